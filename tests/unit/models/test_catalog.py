"""The catalog: known models' prompts, dims, lengths and licenses."""

from __future__ import annotations

from embedtune.models import catalog


def test_catalog_knows_the_popular_models_requirements():
    nomic = catalog.lookup("nomic-ai/modernbert-embed-base")
    assert (nomic.query_prompt, nomic.document_prompt) == ("search_query: ", "search_document: ")
    qwen = catalog.lookup("Qwen/Qwen3-Embedding-0.6B")
    assert qwen.query_prompt.startswith("Instruct: ") and qwen.query_prompt.endswith("\nQuery:")
    assert qwen.document_prompt == "" and 256 in qwen.matryoshka_dims
    assert catalog.lookup("snowflake-arctic-embed-m-v2.0").query_prompt == "query: "
    assert catalog.lookup("BAAI/bge-m3").max_seq_length == 8192
    nv = catalog.lookup("nvidia/NV-Embed-v2")
    assert nv.commercial_use is False and "NC" in nv.license
    assert catalog.lookup("all-MiniLM-L6-v2").dim == 384
    assert catalog.lookup("sentence-transformers/all-mpnet-base-v2").max_seq_length == 384
    assert catalog.lookup("voyage:voyage-3.5").supported is True  # a real client since issue 20
