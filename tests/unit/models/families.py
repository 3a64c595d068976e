"""Tiny, randomly initialised models with the architectures of the open model families, built offline.

Each is a few hundred kilobytes of weights (hidden size 32, two layers) over the bundled MiniLM's
WordPiece tokenizer, saved the way its family ships:

| family | real models | architecture | saved as |
|---|---|---|---|
| qwen3 | Qwen3-Embedding 0.6B/4B/8B | Qwen3 (decoder) | bare transformers folder: the catalog gives last-token pooling |
| modernbert | nomic ModernBERT-Embed | ModernBERT | sentence-transformers: mean pooling + Normalize |
| xlm-roberta | BGE-M3, arctic-embed-l-v2.0 | XLM-RoBERTa | sentence-transformers: CLS pooling + Normalize |
| bert | arctic-embed-m-v1.5, MiniLM, (mpnet) | BERT | sentence-transformers: CLS pooling + Normalize |
| remote | arctic-embed-m-v2.0, NV-Embed-v2 | code shipped in the folder (`auto_map`) | sentence-transformers: mean + Normalize |
"""

from __future__ import annotations

import json
from pathlib import Path

FAMILIES = ("qwen3", "modernbert", "xlm-roberta", "bert", "remote")
# The catalog name each tiny model stands in for (loaded under that name, so the catalog's facts apply).
STANDS_FOR = {
    "qwen3": "Qwen/Qwen3-Embedding-0.6B",
    "modernbert": "nomic-ai/modernbert-embed-base",
    "xlm-roberta": "BAAI/bge-m3",
    "bert": "Snowflake/snowflake-arctic-embed-m-v1.5",
    "remote": "Snowflake/snowflake-arctic-embed-m-v2.0",
}
POOLING = {"qwen3": "lasttoken", "modernbert": "mean", "xlm-roberta": "cls", "bert": "cls", "remote": "mean"}
HIDDEN = 32

REMOTE_CONFIGURATION = '''from transformers import BertConfig


class TinyRemoteConfig(BertConfig):
    model_type = "tiny-remote"
'''
REMOTE_MODELING = '''from transformers import BertModel

from .configuration_tinyremote import TinyRemoteConfig


class TinyRemoteModel(BertModel):
    config_class = TinyRemoteConfig
'''


def _config(family: str, tokenizer):
    from transformers import BertConfig, ModernBertConfig, Qwen3Config, XLMRobertaConfig

    ids = {"pad_token_id": tokenizer.pad_token_id, "bos_token_id": tokenizer.cls_token_id,
           "eos_token_id": tokenizer.sep_token_id}
    size = {"vocab_size": len(tokenizer), "hidden_size": HIDDEN, "intermediate_size": 2 * HIDDEN,
            "num_hidden_layers": 2, "num_attention_heads": 2}
    if family == "qwen3":
        return Qwen3Config(**size, **ids, num_key_value_heads=1, head_dim=16, max_position_embeddings=256)
    if family == "modernbert":
        return ModernBertConfig(**size, **ids, cls_token_id=tokenizer.cls_token_id, sep_token_id=tokenizer.sep_token_id,
                                max_position_embeddings=256, local_attention=16, global_attn_every_n_layers=2)
    if family == "xlm-roberta":
        return XLMRobertaConfig(**size, **ids, max_position_embeddings=256 + tokenizer.pad_token_id + 2)
    return BertConfig(**size, **ids, max_position_embeddings=256)


def build_family_model(family: str, folder: Path, tokenizer_path: str) -> Path:
    """Write the tiny `family` model into `folder` (seeded, so the same weights every time); returns it."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import AutoModel, AutoTokenizer

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    raw = folder / "raw" if family != "qwen3" else folder
    raw.mkdir(parents=True, exist_ok=True)
    AutoModel.from_config(_config(family, tokenizer)).save_pretrained(raw)
    tokenizer.save_pretrained(raw)
    if family == "qwen3":  # Qwen3-Embedding's own folder has modules.json; a bare one tests the catalog's pooling
        return folder
    if family == "remote":
        config = json.loads((raw / "config.json").read_text())
        config.update(model_type="tiny-remote", architectures=["TinyRemoteModel"], auto_map={
            "AutoConfig": "configuration_tinyremote.TinyRemoteConfig", "AutoModel": "modeling_tinyremote.TinyRemoteModel"})
        (raw / "config.json").write_text(json.dumps(config))
        (raw / "configuration_tinyremote.py").write_text(REMOTE_CONFIGURATION)
        (raw / "modeling_tinyremote.py").write_text(REMOTE_MODELING)
    shared = {"local_files_only": True, "trust_remote_code": family == "remote"}
    transformer = Transformer(str(raw), model_kwargs=shared, processor_kwargs=shared, config_kwargs=shared,
                              max_seq_length=128)
    model = SentenceTransformer(modules=[transformer, Pooling(HIDDEN, pooling_mode=POOLING[family]), Normalize()])
    target = folder / "model"
    model.save(str(target))
    return target
