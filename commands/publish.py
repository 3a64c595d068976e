"""`python run.py publish DIR --repo OWNER/NAME`: push an exported model folder to a Hugging Face Hub repo.

The logic (the exact file list, the card pointed at the repo, the token, the upload) is in
`embedtune.publishing`; this maps flags only.
"""

from __future__ import annotations

import click


@click.command("publish")
@click.argument("model_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--repo", "repo_id", required=True, help="Hub repository id, OWNER/NAME (created if missing).")
@click.option("--public", is_flag=True, help="Create the repository public (default: private). An existing "
              "repository keeps its visibility.")
@click.option("--secret", "secret_name", help="ZenML secret holding the Hub token under the key `token` "
              "(default: the HF_TOKEN environment variable).")
@click.option("--dry-run", is_flag=True, help="List exactly the files that would be uploaded, and upload nothing.")
def publish_command(model_dir: str, repo_id: str, public: bool, secret_name: str | None, dry_run: bool) -> None:
    """Upload MODEL_DIR (a folder written by `run --export-dir`) with its model card to the Hugging Face Hub."""
    from embedtune import publishing

    plan = publishing.upload_plan(model_dir, repo_id)
    if dry_run:
        visibility = "public" if public else "private"
        click.echo(f"Dry run: would upload {len(plan)} files to {repo_id} ({visibility} if created):")
        for item in plan:
            click.echo(f"  {item.path_in_repo}  ({item.size:,} bytes)")
        return
    token = publishing.hub_token(secret_name)
    url = publishing.publish(model_dir, repo_id, token, private=not public)
    click.echo(f"Published {len(plan)} files to https://huggingface.co/{repo_id} ({url})")


COMMANDS = [publish_command]
