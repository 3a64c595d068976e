"""The in-process Hugging Face backend, wired end to end with a tiny random causal LM (its answers are
noise: this checks the plumbing, rows and accounting, not query quality)."""

import pytest

from embedtune import EmbedtuneError
from embedtune.config import GenerationConfig
from embedtune.generation import make_generator

CHUNKS = [
    {"chunk_id": "a#0", "title": "Caching", "text": "Steps are cached when their code and inputs are unchanged."},
    {"chunk_id": "b#0", "title": "Stacks", "text": "A stack combines an orchestrator and an artifact store."},
]


@pytest.fixture(scope="module")
def tiny_causal_lm(tmp_path_factory, minilm_path):
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-causal-lm")
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    GPT2LMHeadModel(GPT2Config(vocab_size=tokenizer.vocab_size, n_layer=1, n_head=2, n_embd=32, n_positions=512)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def test_transformers_backend_returns_one_row_per_requested_query(tiny_causal_lm, tmp_path):
    config = GenerationConfig(
        backend="transformers",
        cache_dir=str(tmp_path / "cache"),
        local_model={
            "model": tiny_causal_lm,
            "device": "cpu",
            "max_new_tokens": 6,
            "chat_template": "{% for m in messages %}{{ m['content'] }}\n{% endfor %}",
        },
    )
    generator = make_generator(config)
    rows = generator.generate(CHUNKS, 2)
    assert [(r.chunk_id, r.style) for r in rows] == [
        ("a#0", "question"), ("a#0", "keyword"), ("b#0", "question"), ("b#0", "keyword")
    ]
    assert all(r.generator.startswith("transformers:") for r in rows)
    assert all(r.raw for r in rows)  # answered: noise is kept raw, and unparsable noise has query None
    usage = generator.usage()
    assert usage["requests"] == 4 and usage["answered"] == 4 and usage["completion_tokens"] > 0


def test_transformers_backend_needs_a_model():
    with pytest.raises(EmbedtuneError, match="needs generation.local_model.model"):
        make_generator(GenerationConfig(backend="transformers"))
