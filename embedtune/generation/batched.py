"""Batched llama.cpp generation: several prompts decoded together, as parallel sequences of one context.

On a CPU, llama.cpp reads a prompt at many tokens per second (a matrix product) but writes an answer one
token per forward pass (a matrix-vector product that mostly waits for memory). Decoding `parallel`
answers in one batch reads the weights once for all of them, so the answers of a batch cost little
more than one. `generation.llamacpp.parallel: N` (N > 1) turns it on (`benchmarks/generation.py`
measures it against one sequence at a time).

Workflow of `BatchedDecoder.generate` (one call = one batch of up to `parallel` prompts):
1. The prompts' common prefix (the instructions and few-shot examples) is evaluated once, in sequence 0,
   reusing what sequence 0 kept from the call before; the other sequences share its KV cells
   (`llama_memory_seq_cp`: no copy with a unified KV cache).
2. Each prompt's own suffix (its passage) is evaluated in its own sequence; all suffixes go in the same
   batches, and each sequence samples its first token as soon as its last prompt token is in. A prompt
   that shares more with an earlier prompt of the batch (per_query mode: the queries of one chunk share
   its passage) copies that prompt's cells and evaluates only the rest.
3. One token per unfinished sequence per forward pass, each sequence with its own sampler chain (the
   chain llama-cpp-python's `create_chat_completion` builds: repeat penalty, top-k 40, top-p, min-p 0.05,
   temperature, a seeded draw) and its own JSON-schema grammar, checked on the drawn token first
   (`_sample`), until end-of-generation or `max_new_tokens`.
4. Sequence 0 keeps the common prefix for the next call; everything else is dropped.

`BatchedLlamaCppLLM` is distilabel's `LlamaCppLLM` with `generate` answered by a `BatchedDecoder`, so it
works wherever the one-at-a-time LLM does (the runner's direct mode, a distilabel pipeline).

    >>> llm = BatchedLlamaCppLLM(model_path="qwen.gguf", n_ctx=2048, parallel=4)
    >>> llm.load()
    >>> llm.generate_outputs([[{"role": "user", "content": "Say hi"}]] * 4, max_new_tokens=8)[0]["generations"]
    ['Hi!']
"""

from __future__ import annotations

import ctypes
import functools
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
from distilabel.models.llms import LlamaCppLLM
from pydantic import Field, PrivateAttr

from embedtune import EmbedtuneError

N_BATCH = 512  # tokens per llama_decode call (prompt evaluation)
PENALTY_LAST_N = 64  # llama-cpp-python's last_n_tokens_size
MIN_REUSED = 16  # tokens beyond the common prefix worth copying from another sequence of the batch


def common_prefix(sequences: Sequence[Sequence[int]]) -> int:
    """Length of the longest prefix every sequence shares (0 for no sequences)."""
    if not sequences:
        return 0
    first = sequences[0]
    length = min(len(sequence) for sequence in sequences)
    for i in range(length):
        token = first[i]
        if any(sequence[i] != token for sequence in sequences[1:]):
            return i
    return length


def grammar_for(response_format: dict[str, Any] | None) -> str | None:
    """The GBNF grammar llama-cpp-python derives from an OpenAI-style `response_format` (None: free text)."""
    if not response_format or response_format.get("type") != "json_object":
        return None
    schema = response_format.get("schema")
    return _gbnf(json.dumps(schema) if schema is not None else None)


@functools.lru_cache(maxsize=16)
def _gbnf(schema: str | None) -> str:
    """The grammar of a JSON schema (None: any JSON), converted once per schema, not once per batch."""
    from llama_cpp.llama_grammar import JSON_GBNF, json_schema_to_gbnf

    return json_schema_to_gbnf(schema) if schema is not None else JSON_GBNF


class BatchedDecoder:
    """Up to `parallel` prompts at a time through one llama.cpp context; see the module docstring.

    Args:
        llama: a loaded `llama_cpp.Llama` (its weights and tokenizer are shared; it keeps its own context).
        parallel: sequences decoded together.
        n_ctx: context per sequence (the prompt plus its answer must fit).
        n_threads: CPU threads (None: llama.cpp's default).
        seed: first seed of the per-sequence samplers (each sequence of each call draws with its own).
    """

    def __init__(self, llama: Any, parallel: int, n_ctx: int, n_threads: int | None = None, seed: int = 0):
        import llama_cpp as lib
        from llama_cpp._internals import LlamaTokenDataArray

        self.lib = lib
        self.llama = llama
        self.parallel = max(1, int(parallel))
        self.seed = seed
        self._calls = 0
        model = llama._model.model
        self.vocab = lib.llama_model_get_vocab(model)
        self.n_vocab = lib.llama_vocab_n_tokens(self.vocab)
        params = lib.llama_context_default_params()
        params.n_ctx = n_ctx * self.parallel
        params.n_batch = params.n_ubatch = N_BATCH
        params.n_seq_max = self.parallel
        params.kv_unified = True  # sequences share the prefix's cells
        if n_threads:
            params.n_threads = params.n_threads_batch = n_threads
        self.ctx = lib.llama_init_from_model(model, params)
        if not self.ctx:
            raise EmbedtuneError(f"llama.cpp could not create a context for {self.parallel} sequences of {n_ctx} tokens")
        self.memory = lib.llama_get_memory(self.ctx)
        self.batch = lib.llama_batch_init(N_BATCH, 0, self.parallel)
        self.cached: list[int] = []  # the tokens sequence 0 holds
        self._candidates = LlamaTokenDataArray(n_vocab=self.n_vocab)  # the whole vocabulary, reused
        self._one = np.recarray((1,), dtype=self._candidates.candidates_data.dtype)  # one token, for the grammar
        self._one_array = lib.llama_token_data_array(data=self._one.ctypes.data_as(lib.llama_token_data_p), size=1,
                                                     selected=-1, sorted=False)

    def close(self) -> None:
        if self.ctx:
            self.lib.llama_batch_free(self.batch)
            self.lib.llama_free(self.ctx)
            self.ctx = None

    # -- llama.cpp calls -------------------------------------------------------------------------
    def _add(self, token: int, position: int, seq: int, logits: bool) -> int:
        batch, i = self.batch, self.batch.n_tokens
        batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = token, position, 1, logits
        batch.seq_id[i][0] = seq
        batch.n_tokens += 1
        return i

    def _decode(self) -> None:
        status = self.lib.llama_decode(self.ctx, self.batch)
        self.batch.n_tokens = 0
        if status != 0:
            raise EmbedtuneError(f"llama.cpp could not decode a batch (status {status}: "
                                 f"{'no room in the KV cache' if status == 1 else 'error'}); "
                                 "lower generation.llamacpp.parallel or raise n_ctx")

    def _chain(self, temperature: float, top_p: float, repeat_penalty: float, seed: int):
        """The sampler chain llama-cpp-python's chat completion builds, less the grammar (see `_sample`)."""
        lib = self.lib
        chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        # The binding's first argument is n_vocab, as llama-cpp-python's own sampler passes it.
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_penalties(
            self.n_vocab, PENALTY_LAST_N, repeat_penalty, 0.0, 0.0))
        if temperature <= 0:
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_greedy())
            return chain
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_top_k(40))
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_top_p(top_p, 1))
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_min_p(0.05, 1))
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_temp(temperature))
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_dist(seed & 0xFFFFFFFF))
        return chain

    def _grammar(self, grammar: str | None):
        if not grammar:
            return None
        sampler = self.lib.llama_sampler_init_grammar(self.vocab, grammar.encode("utf-8"), b"root")
        if not sampler:
            raise EmbedtuneError("llama.cpp could not parse the answer grammar")
        return sampler

    def _sample(self, chain: Any, grammar: Any, index: int) -> int:
        """One token for the batch row `index`: drawn without the grammar, kept if the grammar allows it,
        else drawn again from the grammar-masked candidates (llama.cpp's own common sampler does the
        same: the grammar then looks at one token instead of the whole vocabulary, and the result has the
        same distribution as masking first)."""
        lib, candidates = self.lib, self._candidates
        logits = np.ctypeslib.as_array(lib.llama_get_logits_ith(self.ctx, index), shape=(self.n_vocab,))
        candidates.copy_logits(logits)
        lib.llama_sampler_apply(chain, ctypes.byref(candidates.candidates))
        token = int(candidates.candidates_data.id[candidates.candidates.selected])
        if grammar is not None:
            one = self._one
            one.id[0], one.logit[0], one.p[0] = token, 1.0, 0.0
            self._one_array.size, self._one_array.selected, self._one_array.sorted = 1, -1, False
            lib.llama_sampler_apply(grammar, ctypes.byref(self._one_array))
            if not np.isfinite(one.logit[0]):  # the grammar forbids it: mask everything, draw again
                candidates.copy_logits(logits)
                lib.llama_sampler_apply(grammar, ctypes.byref(candidates.candidates))
                lib.llama_sampler_apply(chain, ctypes.byref(candidates.candidates))
                token = int(candidates.candidates_data.id[candidates.candidates.selected])
            lib.llama_sampler_accept(grammar, token)
        lib.llama_sampler_accept(chain, token)
        return token

    # -- one batch -------------------------------------------------------------------------------
    def generate(self, prompts: Sequence[Sequence[int]], max_new_tokens: int, grammar: str | None = None,
                 temperature: float = 0.7, top_p: float = 0.9, repeat_penalty: float = 1.1) -> list[list[int]]:
        """The answer tokens (end-of-generation excluded) for each prompt's tokens; at most `parallel` prompts."""
        if len(prompts) > self.parallel:
            raise ValueError(f"{len(prompts)} prompts for {self.parallel} sequences")
        if not prompts:
            return []
        if any(not prompt for prompt in prompts):
            raise ValueError("an empty prompt")
        lib, n = self.lib, len(prompts)
        # 1. The common prefix, in sequence 0 (each prompt keeps at least one token of its own).
        shared = min(common_prefix(prompts), min(len(prompt) for prompt in prompts) - 1)
        prefix = list(prompts[0][:shared])
        kept = common_prefix([self.cached, prefix])
        for seq in range(1, self.parallel):
            lib.llama_memory_seq_rm(self.memory, seq, -1, -1)
        lib.llama_memory_seq_rm(self.memory, 0, kept, -1)
        self.cached = prefix[:kept]
        for start in range(kept, shared, N_BATCH):
            for position in range(start, min(shared, start + N_BATCH)):
                self._add(prefix[position], position, 0, False)
            self._decode()
        self.cached = prefix
        for seq in range(1, n):
            lib.llama_memory_seq_cp(self.memory, 0, seq, -1, -1)
        chains = [self._chain(temperature, top_p, repeat_penalty, self.seed + self._calls * self.parallel + seq)
                  for seq in range(n)]
        grammars = [self._grammar(grammar) for _ in range(n)]
        self._calls += 1
        answers: list[list[int]] = [[] for _ in range(n)]
        pending: list[int | None] = [None] * n  # the last sampled token, not yet evaluated
        done = [False] * n

        def take(seq: int, index: int) -> None:
            token = self._sample(chains[seq], grammars[seq], index)
            if lib.llama_vocab_is_eog(self.vocab, token):
                done[seq] = True
                return
            answers[seq].append(token)
            if len(answers[seq]) >= max_new_tokens:
                done[seq] = True
            else:
                pending[seq] = token

        def evaluate(parts: list[tuple[int, int]]) -> None:
            """prompts[seq][start:] for each (seq, start), packed into as few batches as fit; each
            sequence samples its first token as soon as its last prompt token is in."""
            tokens = [(seq, position) for seq, start in parts for position in range(start, len(prompts[seq]))]
            for first in range(0, len(tokens), N_BATCH):
                last = []
                for seq, position in tokens[first : first + N_BATCH]:
                    final = position == len(prompts[seq]) - 1
                    index = self._add(prompts[seq][position], position, seq, final)
                    if final:
                        last.append((seq, index))
                self._decode()
                for seq, index in last:
                    take(seq, index)

        try:
            # 2. Each prompt's own part in its own sequence. A prompt that shares more than the common
            # prefix with an earlier one (per_query mode: the queries of one chunk share its passage)
            # copies that one's cells for the shared part, once the earlier one is in.
            sources, dependents = [], []
            for seq in range(n):
                best, length = max(((source, common_prefix([prompts[seq], prompts[source]])) for source in sources),
                                   key=lambda item: item[1], default=(None, 0))
                if best is not None and length - shared >= MIN_REUSED:
                    dependents.append((seq, best, min(length, len(prompts[seq]) - 1)))
                else:
                    sources.append(seq)
            evaluate([(seq, shared) for seq in sources])
            for seq, source, start in dependents:
                lib.llama_memory_seq_cp(self.memory, source, seq, shared, start)
            evaluate([(seq, start) for seq, _, start in dependents])
            # 3. One token per unfinished sequence per forward pass.
            while not all(done):
                order = [seq for seq in range(n) if not done[seq]]
                for seq in order:
                    self._add(pending[seq], len(prompts[seq]) + len(answers[seq]) - 1, seq, True)
                self._decode()
                for index, seq in enumerate(order):
                    take(seq, index)
        finally:
            for sampler in chains + grammars:
                if sampler is not None:
                    lib.llama_sampler_free(sampler)
            # 4. Only the common prefix stays (in sequence 0).
            for seq in range(self.parallel):
                lib.llama_memory_seq_rm(self.memory, seq, shared if seq == 0 else -1, -1)
        return answers


class BatchedLlamaCppLLM(LlamaCppLLM):
    """distilabel's `LlamaCppLLM`, its inputs answered `parallel` at a time by a `BatchedDecoder`.

    Args:
        parallel: sequences decoded together (the rest: `LlamaCppLLM`'s; `extra_kwargs["n_threads"]`
            sets the threads).

    Only what embedtune's generator passes is honoured: `max_new_tokens`, `temperature`, `top_p` and,
    in `extra_generation_kwargs`, `response_format` (a JSON schema becomes the grammar) and
    `repeat_penalty`.
    """

    parallel: int = Field(4, gt=0, description="Sequences decoded together in one llama.cpp context.")
    _decoder: Any = PrivateAttr(None)
    _formatter: Any = PrivateAttr(None)

    def load(self) -> None:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        super().load()
        llama = self._model
        template = llama.metadata.get("tokenizer.chat_template")
        if not template:
            raise EmbedtuneError(f"{self.model_path} has no chat template; the batched llama.cpp backend needs one")

        def token_text(token: int) -> str:
            return llama._model.token_get_text(token) if token != -1 else ""

        self._formatter = Jinja2ChatFormatter(template=template, eos_token=token_text(llama.token_eos()),
                                              bos_token=token_text(llama.token_bos()))
        self._decoder = BatchedDecoder(llama, self.parallel, self.n_ctx,
                                       (self.extra_kwargs or {}).get("n_threads"), self.seed)

    def unload(self) -> None:
        if self._decoder is not None:
            self._decoder.close()
            self._decoder = None
        super().unload()

    def tokens(self, messages: list[dict[str, str]]) -> list[int]:
        """The chat prompt's tokens, as `create_chat_completion` makes them."""
        result = self._formatter(messages=messages)
        return self._model.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)

    def generate(  # type: ignore[override]
        self,
        inputs: list[Any],
        num_generations: int = 1,
        max_new_tokens: int = 128,
        frequency_penalty: float = 0.0,
        presence_penalty: float = 0.0,
        temperature: float = 1.0,
        top_p: float = 1.0,
        extra_generation_kwargs: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        from distilabel.models.llms.utils import prepare_output

        extra = extra_generation_kwargs or {}
        grammar = grammar_for(extra.get("response_format"))
        prompts = [self.tokens(messages) for messages in inputs for _ in range(num_generations)]
        answers: list[list[int]] = []
        for start in range(0, len(prompts), self.parallel):
            answers += self._decoder.generate(prompts[start : start + self.parallel], max_new_tokens, grammar,
                                              temperature, top_p, float(extra.get("repeat_penalty", 1.1)))
        texts = [self._model.detokenize(answer).decode("utf-8", errors="ignore") for answer in answers]
        outputs = []
        for i in range(len(inputs)):
            rows = range(i * num_generations, (i + 1) * num_generations)
            outputs.append(prepare_output([texts[r] for r in rows], input_tokens=[len(prompts[r]) for r in rows],
                                          output_tokens=[len(answers[r]) for r in rows]))
        return outputs
