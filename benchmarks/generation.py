"""How fast can the default generator write usable pairs on this machine, and how far is that from the limit?

Three measurements of the default GGUF (or `--model-path`), all in one process, same chunks:

1. The limit: llama.cpp's own prefill and decode speeds (tokens/s) on this CPU, and the CPU features
   its build uses (`llama_print_system_info`).
2. Each setting side by side on the same chunks, with an empty answer journal each time: wall time,
   prompts, prompt and output tokens per query, usable pairs (kept by the pipeline's filters) per
   minute. Settings are named `--setting NAME=key:value,...` over `generation` keys (dotted for
   `llamacpp.*`); the first is the baseline every ratio is against.
3. The limit of each setting: the prompt tokens llama.cpp must evaluate (each prompt's ChatML tokens
   minus the prefix it shares with the prompt before, which llama-cpp-python keeps in its KV cache)
   at the measured prefill speed, plus the output tokens at the decode speed, with no other overhead.
   The ratio measured/limit says how much is left on the table for that prompt; a shorter prompt,
   fewer output tokens or a faster model moves the limit itself.

    python benchmarks/generation.py --chunks 12 \\
        --setting "per_query=prompt_mode:per_query" --setting "per_chunk=prompt_mode:per_chunk"

A setting may name another llama.cpp build, `build:DIR`: a folder holding a `llama_cpp` package (e.g.
`CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install --no-deps --no-cache-dir --target DIR llama-cpp-python==0.3.36`,
the portable build the Makefile used before). That setting and its limit run in a child process with DIR
first on its path, so old and new builds are measured in one run on the same chunks.

Writes benchmarks/results/generation-<date>.{json,md} (or --output).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def load_chunks(corpus: str, count: int, seed: int) -> list[dict[str, Any]]:
    """A seeded sample of the chunks the default run would generate for (configs/default.yaml)."""
    from embedtune.config import load_run_config
    from embedtune.data.chunking import chunk_documents
    from embedtune.data.ingest import load_documents
    from embedtune.models.loading import load_tokenizer

    config, _ = load_run_config(ROOT / "configs" / "default.yaml")
    config.ingest.corpus = corpus
    documents = load_documents(config.ingest).documents
    chunks = chunk_documents(documents, load_tokenizer(config.model.base_model), config.chunking)
    return sorted(random.Random(seed).sample(chunks, min(count, len(chunks))), key=lambda c: c["chunk_id"])


def speed_limit(model_path: str, threads: int, prompt_tokens: int = 512, decode_tokens: int = 64) -> dict[str, Any]:
    """Prefill and decode tokens/s of llama.cpp itself (best of two), and the CPU features of the build."""
    import llama_cpp

    llm = llama_cpp.Llama(model_path=model_path, n_ctx=2048, n_threads=threads, n_threads_batch=threads,
                          n_batch=512, verbose=False, seed=0)
    text = " ".join(["The passage describes how a pipeline caches its steps and artifacts."] * 80)
    tokens = llm.tokenize(text.encode())[:prompt_tokens]
    prefill, decode = [], []
    for _ in range(2):
        llm.reset()
        started = time.perf_counter()
        llm.eval(tokens)
        prefill.append(len(tokens) / (time.perf_counter() - started))
        started = time.perf_counter()
        for _ in range(decode_tokens):
            token = llm.sample(temp=0.0)
            llm.eval([token])
        decode.append(decode_tokens / (time.perf_counter() - started))
    info = llama_cpp.llama_print_system_info()
    return {
        "prefill_tokens_per_s": round(max(prefill), 1),
        "decode_tokens_per_s": round(max(decode), 2),
        "threads": threads,
        "system_info": info.decode() if isinstance(info, bytes) else str(info),
        "llama_cpp_python": llama_cpp.__version__,
    }


def new_prompt_tokens(model_path: str, prompts: list[list[dict[str, str]]]) -> int:
    """Tokens llama.cpp must evaluate for these chat prompts in this order: each ChatML prompt minus
    the prefix it shares with the previous one (llama-cpp-python reuses that part of its KV cache)."""
    import llama_cpp

    vocab = llama_cpp.Llama(model_path=model_path, vocab_only=True, verbose=False)
    total, previous = 0, []
    for messages in prompts:
        text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
        tokens = vocab.tokenize((text + "<|im_start|>assistant\n").encode(), add_bos=False, special=True)
        shared = 0
        for a, b in zip(tokens, previous):
            if a != b:
                break
            shared += 1
        total += len(tokens) - shared
        previous = tokens
    return total


def parse_setting(text: str) -> tuple[str, dict[str, Any]]:
    name, _, body = text.partition("=")
    overrides: dict[str, Any] = {}
    for item in filter(None, body.split(",")):
        key, _, value = item.partition(":")
        parsed: Any = value
        for cast in (int, float):
            try:
                parsed = cast(value)
                break
            except ValueError:
                continue
        if key == "query_styles":
            parsed = value.split("+")
        target = overrides
        *parents, leaf = key.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = parsed
    return name, overrides


def run_setting(name: str, overrides: dict[str, Any], chunks: list[dict[str, Any]], base: dict[str, Any]) -> dict:
    from embedtune.config import FilterConfig, GenerationConfig
    from embedtune.generation import make_generator
    from embedtune.generation.filters import build_pairs, filter_pairs

    settings = json.loads(json.dumps(base))
    for key, value in overrides.items():
        if isinstance(value, dict):
            settings.setdefault(key, {}).update(value)
        else:
            settings[key] = value
    with tempfile.TemporaryDirectory(prefix="embedtune-genbench-") as journal:
        settings["cache_dir"] = journal  # an empty journal: every answer is generated now
        config = GenerationConfig(**settings)
        generator = make_generator(config)
        prompts = [row["messages"] for row in generator.build_rows(chunks, config.queries_per_chunk)]
        started = time.perf_counter()
        generated = generator.generate(chunks, config.queries_per_chunk)
        seconds = time.perf_counter() - started
    usage = generator.usage()
    kept, dropped = filter_pairs(build_pairs(generated, chunks), FilterConfig())
    queries = max(1, len(generated))
    return {
        "setting": name,
        "overrides": overrides,
        "prompt_version": usage.get("prompt_version"),
        "chunks": len(chunks),
        "prompts": usage.get("requests"),
        "queries": len(generated),
        "kept": len(kept),
        "dropped": dict(dropped),
        "seconds": round(seconds, 1),
        "prompt_tokens_per_query": round(usage.get("prompt_tokens", 0) / queries, 1),
        "output_tokens_per_query": round(usage.get("completion_tokens", 0) / queries, 1),
        "output_tokens": usage.get("completion_tokens", 0),
        "new_prompt_tokens": new_prompt_tokens(settings["llamacpp"]["model_path"], prompts),
        "usable_pairs_per_minute": round(len(kept) / seconds * 60, 2),
        "samples": [{"style": q.style, "query": q.query} for q in generated[:6]],
    }


def in_build(build: str, task: dict[str, Any]) -> dict[str, Any]:
    """Run `task` (a setting or a limit) in a child process whose `llama_cpp` comes from `build` first."""
    import subprocess

    if not (Path(build) / "llama_cpp").is_dir():
        sys.exit(f"generation: build {build} has no llama_cpp package (see this script's docstring)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [build, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, __file__, "--worker"], input=json.dumps(task), env=env, text=True,
                          capture_output=True, check=False)
    if done.returncode:
        sys.exit(f"generation: the worker for build {build} failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def do_task(task: dict[str, Any]) -> dict[str, Any]:
    """A limit (`kind: limit`) or a setting, in this process."""
    if task["kind"] == "limit":
        return speed_limit(task["model_path"], task["threads"])
    return run_setting(task["name"], task["overrides"], task["chunks"], task["base"])


def run_task(task: dict[str, Any], build: str | None) -> dict[str, Any]:
    """`task` with the llama.cpp build in `build` (a child process), or with this process's own."""
    if not build:
        return do_task(task)
    return {**in_build(build, task), "build": build} if task["kind"] == "setting" else in_build(build, task)


def worker() -> None:
    """--worker: one task from stdin (JSON), its result as the last stdout line."""
    result = do_task(json.loads(sys.stdin.read()))
    import llama_cpp

    result["llama_cpp_file"] = llama_cpp.__file__
    print(json.dumps(result))


def built(row: dict[str, Any]) -> str:
    return f" (build `{Path(row['build']).name}`)" if row.get("build") else ""


def markdown(result: dict[str, Any]) -> str:
    limit = result["limit"]
    lines = [
        f"# Generation speed, {result['date']}", "",
        f"Command: `{result['command']}`", "",
        (f"Machine: {result['machine']['cpu_count']} CPUs ({result['machine']['platform']}); model "
        f"{result['model']}; llama-cpp-python {limit['llama_cpp_python']}, {limit['threads']} threads."), "",
        (f"llama.cpp on this machine: prefill **{limit['prefill_tokens_per_s']} tokens/s**, decode "
        f"**{limit['decode_tokens_per_s']} tokens/s**. Build features: `{limit['system_info'].strip()}`"), "",
        (f"{result['chunks']} chunks of `{result['corpus']}` (seed {result['seed']}), every setting on the same chunks "
        "with an empty journal. Limit = the prompt tokens that must be evaluated (after KV-prefix reuse) and "
         "the output tokens, at the speeds above, no other overhead."), "",
        ("| setting | model | prompt | prompts | queries | kept | s | prompt tok/query | evaluated prompt tok | "
        "output tok/query | usable pairs/min | vs baseline | limit s | limit queries/min | measured/limit |"),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["settings"]:
        lines.append(
            f"| {row['setting']} | {row.get('model', result['model'])}{built(row)} | {row['prompt_version']} | {row['prompts']} | "
            f"{row['queries']} | {row['kept']} | "
            f"{row['seconds']} | {row['prompt_tokens_per_query']} | {row['new_prompt_tokens']} | "
            f"{row['output_tokens_per_query']} | {row['usable_pairs_per_minute']} | {row['ratio_vs_baseline']:.2f}x | "
            f"{row['ideal_seconds']} | {row['ideal_queries_per_minute']} | {row['measured_vs_ideal']:.2f} |"
        )
    other = {(row["model"], row.get("build")): row["limit"] for row in result["settings"] if row.get("limit") != limit}
    for (model, build_dir), speeds in other.items():
        on = f" with the llama.cpp build in `{build_dir}` (`{speeds['system_info'].strip()}`)" if build_dir else ""
        lines += ["", (f"Limit of {model}{on}: prefill {speeds['prefill_tokens_per_s']} tokens/s, decode "
                  f"{speeds['decode_tokens_per_s']} tokens/s (its rows use these).")]
    lines += ["", "Sample queries (first chunks):", ""]
    for row in result["settings"]:
        lines.append(f"- {row['setting']}: " + "; ".join(f"[{s['style']}] {s['query']}" for s in row["samples"]))
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default=str(ROOT / "docs"))
    parser.add_argument("--chunks", type=int, default=12)
    parser.add_argument("--setting", action="append", default=[], help="NAME=key:value,... (first = baseline)")
    parser.add_argument("--model-path", help="A GGUF file (default: the packaged model).")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--limit-only", action="store_true",
                        help="Print llama.cpp's prefill/decode speeds and build features only (compare builds).")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker()
        return
    if args.limit_only:
        from embedtune.generation.gguf import packaged_model_path

        print(json.dumps(speed_limit(args.model_path or str(packaged_model_path()), args.threads)))
        return

    from embedtune.config import load_run_config
    from embedtune.generation.gguf import DEFAULT_MODEL, PACKAGED_MODELS, packaged_model_path
    from embedtune.models.devices import hardware_summary

    model_path = args.model_path or str(packaged_model_path())
    config, _ = load_run_config(ROOT / "configs" / "default.yaml")
    base = config.generation.model_dump()
    base["llamacpp"]["model_path"] = model_path
    base["llamacpp"]["n_threads"] = args.threads
    chunks = load_chunks(args.corpus, args.chunks, args.seed)
    settings = [parse_setting(text) for text in args.setting or ["default="]]
    result: dict[str, Any] = {
        "command": " ".join(["python", *sys.argv]),
        "date": dt.date.today().isoformat(),
        "machine": hardware_summary("cpu"),
        "model": Path(model_path).name if args.model_path else DEFAULT_MODEL.name,
        "corpus": os.path.relpath(args.corpus, ROOT),
        "chunks": len(chunks),
        "seed": args.seed,
        "limit": speed_limit(model_path, args.threads),
        "settings": [],
    }
    output = args.output or ROOT / "benchmarks" / "results" / f"generation-{result['date']}.json"
    limits: dict[tuple[str | None, str], dict[str, Any]] = {(None, model_path): result["limit"]}
    for name, overrides in settings:
        build = overrides.pop("build", None)  # another llama.cpp build: this setting runs in a child process
        llamacpp = overrides.setdefault("llamacpp", {})
        if "model" in llamacpp and "model_path" not in llamacpp:  # another packaged model: its own path and limit
            llamacpp["model_path"] = str(packaged_model_path(PACKAGED_MODELS[llamacpp["model"]]))
        setting_path = llamacpp.get("model_path", model_path)
        if (build, setting_path) not in limits:
            limits[(build, setting_path)] = run_task(
                {"kind": "limit", "model_path": setting_path, "threads": args.threads}, build)
        row = run_task({"kind": "setting", "name": name, "overrides": overrides, "chunks": chunks, "base": base}, build)
        limit = row["limit"] = limits[(build, setting_path)]
        row["model"] = Path(setting_path).name
        ideal_s = (row["new_prompt_tokens"] / limit["prefill_tokens_per_s"]
                   + row["output_tokens"] / limit["decode_tokens_per_s"])
        row["ideal_seconds"] = round(ideal_s, 1)
        row["ideal_queries_per_minute"] = round(row["queries"] / ideal_s * 60, 1) if ideal_s else None
        measured = row["queries"] / row["seconds"] * 60 if row["seconds"] else 0.0
        row["measured_vs_ideal"] = measured / row["ideal_queries_per_minute"] if row["ideal_queries_per_minute"] else 0
        baseline = result["settings"][0]["usable_pairs_per_minute"] if result["settings"] else row["usable_pairs_per_minute"]
        row["ratio_vs_baseline"] = row["usable_pairs_per_minute"] / baseline if baseline else 0.0
        result["settings"].append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "samples"}), flush=True)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        output.with_suffix(".md").write_text(markdown(result), encoding="utf-8")
    print(f"wrote {output} and {output.with_suffix('.md')}")


if __name__ == "__main__":
    main()
