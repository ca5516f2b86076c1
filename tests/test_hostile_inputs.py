"""Malformed inputs over every stage, through the real CLI, as a hostile user would give them.

Each case gives one stage one broken input and checks what docs/reliability.md promises:

- ``error``: exit 2 and a single error line on stderr that names the file (no traceback), after at
  most the warnings about the records that were skipped on the way;
- ``counted``: the stage finishes (exit 0) and the damage is reported, naming the file, on stderr or in
  the output's manifest / stats, with the intact rest kept;
- always: nothing is written outside ``--out`` (the working directory, the inputs and ``$TMPDIR`` are
  left as they were) and no process of the command's session is left running.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import orjson
import pytest
from conftest import REPO, shared_path

from gptkit.io.shards import iter_documents

pytestmark = pytest.mark.slow  # about 60 CLI runs


# --- inputs -------------------------------------------------------------------------------------


def _prose_docs(n: int, seed: int = 0) -> list[dict]:
    """English-looking documents that clean keeps (long enough, varied words)."""
    rng = random.Random(seed)
    words = ["the", "river", "ran", "past", "old", "mill", "where", "children", "played", "every", "summer",
             "and", "farmer", "counted", "his", "sheep", "before", "long", "winter", "came", "over", "quiet"]  # fmt: skip
    docs = []
    for i in range(n):
        sentences = [" ".join(rng.choice(words) for _ in range(12)).capitalize() + "." for _ in range(20)]
        docs.append({"id": f"doc{i}", "text": f"Story {i}. " + " ".join(sentences)})
    return docs


def _jsonl(docs: list[dict]) -> bytes:
    return b"".join(orjson.dumps(d) + b"\n" for d in docs)


def _truncated(compress: Callable[[bytes], bytes], data: bytes, keep: float = 0.7) -> bytes:
    packed = compress(data)
    return packed[: int(len(packed) * keep)]


def _warc(records: list[tuple[str, bytes]]) -> bytes:
    """A plain WARC of response records written by warcio."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=False)
    for url, body in records:
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http))
    return buf.getvalue()


def _page(i: int) -> bytes:
    return f"<html><head><title>Page {i}</title></head><body><p>{f'Some words of page {i}. ' * 40}</p></body></html>".encode()


def _wrong_content_length() -> bytes:
    data = _warc([("http://example.org/a", _page(1)), ("http://example.org/b", _page(2))])
    start = data.index(b"Content-Length: ", data.index(b"WARC-Target-URI"))
    end = data.index(b"\r\n", start)
    length = int(data[start + 16 : end])
    return data[:start] + f"Content-Length: {length - 7}".encode() + data[end:]


def _broken_hf_json(edit: Callable[[dict], None]) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        data = json.loads(shared_path("tokenizers/gpt2/hf/tokenizer.json").read_text(encoding="utf-8"))
        edit(data)
        (tmp / "tok").mkdir()
        (tmp / "tok" / "tokenizer.json").write_text(json.dumps(data), encoding="utf-8")

    return setup


def _write(name: str, data: bytes | str) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)

    return setup


def _manifest_dir(edit: Callable[[dict], None]) -> Callable[[Path], None]:
    """A small finished stage output whose manifest.json was then edited by hand."""

    def setup(tmp: Path) -> None:
        from gptkit.io.manifest import Manifest, file_record

        folder = tmp / "stage"
        folder.mkdir()
        (folder / "data.txt").write_text("content")
        manifest = Manifest(stage="extract", config={}, outputs=[file_record(folder / "data.txt", folder)]).to_json()
        edit(manifest)
        (folder / "manifest.json").write_text(json.dumps(manifest))
        (tmp / "secret.txt").write_text("outside the folder")

    return setup


def _run_dir_pointing(name: str) -> Callable[[Path], None]:
    """A run folder whose ``latest`` names ``name``; a real model waits outside it, in ``elsewhere``."""

    def setup(tmp: Path) -> None:
        (tmp / "run" / "checkpoints").mkdir(parents=True)
        (tmp / "run" / "latest").write_text(name + "\n")
        _tiny_model(tmp / "elsewhere")

    return setup


def _tiny_model(path: Path) -> None:
    from gptkit.model.gpt import GPT, GPTConfig
    from gptkit.model.store import save_model

    save_model(path, GPT(GPTConfig(n_layer=1, n_head=1, n_embd=8, block_size=8, vocab_size=300)))


def _random_bytes(n: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(n)


# --- the table ----------------------------------------------------------------------------------


@dataclass
class Case:
    id: str
    args: list[str]  # {in}, {out}, {gpt2}, {tokens}, {model}, {tmp} are filled in
    setup: Callable[[Path], None] | None
    expect: str  # "error" | "counted" | "failed"
    needles: tuple[str, ...]  # in the error line; or, for "counted", in stderr + the output's JSON files


SITE_URLS = "{site}/to/100.100.100.200\n"  # the local server redirects to that address
TRUNC_DOCS = _jsonl(_prose_docs(400))
LONG_LINE = _jsonl(_prose_docs(2)) + b'{"id": "huge", "text": "' + b"x" * (21 << 20)  # no newline ever

CASES = [
    # urls
    Case("urls-missing", ["data", "urls", "{tmp}/nope.txt", "--out", "{out}"], None, "error", ("nope.txt",)),
    Case("urls-empty-dir", ["data", "urls", "{tmp}/d", "--out", "{out}"], _write("d/.keep", ""), "error", ("d",)),
    Case("urls-truncated-xz", ["data", "urls", "{tmp}/RS_1.xz", "--out", "{out}"],
         _write("RS_1.xz", _truncated(lzma.compress, b"".join(orjson.dumps(
             {"url": f"https://site{i}.org/a", "score": 5, "is_self": False}) + b"\n" for i in range(20000)))),
         "counted", ("RS_1.xz", "corrupt or truncated", "at byte")),
    Case("urls-bad-json", ["data", "urls", "{tmp}/RS_2.jsonl", "--out", "{out}"],
         _write("RS_2.jsonl", b'{"url": "https://a.org/", "score": 9}\n{not json\n'), "counted", ("RS_2.jsonl", "invalid JSON")),
    # crawl
    Case("crawl-missing", ["data", "crawl", "{tmp}/nope.txt", "--out", "{out}"], None, "error", ("nope.txt",)),
    Case("crawl-bad-config", ["data", "crawl", "{tmp}/u.txt", "--out", "{out}", "--set", "crawl.delay=-1"],
         _write("u.txt", "http://example.org/\n"), "error", ("delay",)),
    Case("crawl-redirect-to-metadata", ["data", "crawl", "{tmp}/u.txt", "--out", "{out}", "--delay", "0.01",
                                        "--set", 'crawl.allow_networks=["127.0.0.1/32"]'],
         lambda t: _write("u.txt", SITE_URLS)(t), "counted", ("private address 100.100.100.200",)),
    Case("crawl-binary-list", ["data", "crawl", "{tmp}/u.txt", "--out", "{out}", "--delay", "0.01"],
         _write("u.txt", _random_bytes(3000)), "counted", ("u.txt",)),
    # extract
    Case("extract-random-html", ["data", "extract", "{tmp}/in", "--out", "{out}", "-w", "1"],
         lambda t: (_write("in/a.html", _page(1))(t), _write("in/noise.html", _random_bytes(5000))(t)),
         "counted", ("noise.html", "binary content")),
    Case("extract-truncated-plain-warc", ["data", "extract", "{tmp}/in/t.warc", "--out", "{out}", "-w", "1"],
         lambda t: _write("in/t.warc", _warc([("http://example.org/a", _page(1)), ("http://example.org/b", _page(2))])[:-400])(t),
         "counted", ("t.warc", "truncated WARC")),
    Case("extract-empty-warc-gz", ["data", "extract", "{tmp}/in/e.warc.gz", "--out", "{out}", "-w", "1"],
         _write("in/e.warc.gz", b""), "counted", ("e.warc.gz", "empty file")),
    Case("extract-wrong-content-length", ["data", "extract", "{tmp}/in/w.warc", "--out", "{out}", "-w", "1"],
         _write("in/w.warc", _wrong_content_length()), "counted", ("w.warc", "malformed WARC")),
    Case("extract-garbage-warc-gz", ["data", "extract", "{tmp}/in/g.warc.gz", "--out", "{out}", "-w", "1"],
         _write("in/g.warc.gz", _random_bytes(4000)), "counted", ("g.warc.gz", "WARC")),
    Case("extract-truncated-html-gz", ["data", "extract", "{tmp}/in", "--out", "{out}", "-w", "1"],
         lambda t: (_write("in/a.html", _page(1))(t), _write("in/cut.html.gz", _truncated(gzip.compress, b"".join(_page(i) for i in range(50)), 0.5))(t)),
         "counted", ("cut.html.gz", "corrupt or truncated")),
    Case("extract-jsonl-no-html", ["data", "extract", "{tmp}/p.jsonl", "--out", "{out}", "-w", "1"],
         _write("p.jsonl", b'{"html": "<p>hello there</p>"}\n{"url": "x"}\n'), "counted", ("p.jsonl", "no 'html'")),
    Case("extract-truncated-jsonl-gz", ["data", "extract", "{tmp}/p.jsonl.gz", "--out", "{out}", "-w", "1"],
         _write("p.jsonl.gz", _truncated(gzip.compress, _jsonl(
             [{"html": _page(i).decode(), "url": f"http://e.org/{i}"} for i in range(300)]))),
         "counted", ("p.jsonl.gz", "at byte")),
    Case("extract-pdf", ["data", "extract", "{tmp}/n.pdf", "--out", "{out}"], _write("n.pdf", b"%PDF-1.4"), "error", ("n.pdf",)),
    Case("extract-bad-extractor", ["data", "extract", "{tmp}/a.html", "--out", "{out}", "--extractor", "magic"],
         _write("a.html", _page(1)), "error", ("magic",)),
    # clean
    Case("clean-truncated-gz", ["data", "clean", "{tmp}/d.jsonl.gz", "--out", "{out}", "-w", "1"],
         _write("d.jsonl.gz", _truncated(gzip.compress, TRUNC_DOCS)), "counted", ("d.jsonl.gz", "at byte")),
    Case("clean-truncated-xz", ["data", "clean", "{tmp}/d.jsonl.xz", "--out", "{out}", "-w", "1"],
         _write("d.jsonl.xz", _truncated(lzma.compress, TRUNC_DOCS)), "counted", ("d.jsonl.xz", "at byte")),
    Case("clean-truncated-bz2", ["data", "clean", "{tmp}/d.jsonl.bz2", "--out", "{out}", "-w", "1"],
         _write("d.jsonl.bz2", _truncated(bz2.compress, TRUNC_DOCS * 3)), "counted", ("d.jsonl.bz2", "at byte")),
    Case("clean-endless-line", ["data", "clean", "{tmp}/long.jsonl", "--out", "{out}", "-w", "1"],
         _write("long.jsonl", LONG_LINE), "counted", ("long.jsonl:3", "document too large")),
    Case("clean-bad-json", ["data", "clean", "{tmp}/b.jsonl", "--out", "{out}", "-w", "1"],
         _write("b.jsonl", TRUNC_DOCS[:3000].rsplit(b"\n", 1)[0] + b"\n{oops\n"), "counted", ("b.jsonl", "invalid JSON")),
    Case("clean-not-utf8", ["data", "clean", "{tmp}/l.txt", "--out", "{out}", "-w", "1"],
         _write("l.txt", "caf\u00e9 ".encode("latin-1") * 100), "counted", ("l.txt", "invalid UTF-8")),
    Case("clean-missing", ["data", "clean", "{tmp}/nope.jsonl", "--out", "{out}"], None, "error", ("nope.jsonl",)),
    Case("clean-bad-decontaminate", ["data", "clean", "{tmp}/b.jsonl", "--out", "{out}", "--decontaminate", "{tmp}/ev.jsonl"],
         _write("b.jsonl", TRUNC_DOCS[:2000].rsplit(b"\n", 1)[0] + b"\n"), "error", ("ev.jsonl",)),
    Case("clean-unknown-key", ["data", "clean", "{tmp}/b.jsonl", "--out", "{out}", "--set", "clean.bogus=1"],
         _write("b.jsonl", TRUNC_DOCS[:2000].rsplit(b"\n", 1)[0] + b"\n"), "error", ("bogus",)),
    # tokenizer
    Case("tok-train-empty", ["tokenizer", "train", "{tmp}/empty.txt", "--out", "{out}"], _write("empty.txt", ""),
         "error", ("empty.txt", "no documents")),
    Case("tok-no-vocab", ["tokenizer", "encode", "{tmp}/tok", "hello"],
         _broken_hf_json(lambda d: d["model"].pop("vocab")), "error", ("tokenizer.json", "model.vocab")),
    Case("tok-vocab-list", ["tokenizer", "encode", "{tmp}/tok", "hello"],
         _broken_hf_json(lambda d: d["model"].update(vocab=list(d["model"]["vocab"]))), "error", ("tokenizer.json", "model.vocab")),
    Case("tok-added-no-content", ["tokenizer", "encode", "{tmp}/tok", "hello"],
         _broken_hf_json(lambda d: d["added_tokens"][0].pop("content")), "error", ("tokenizer.json", "added_tokens[0]")),
    Case("tok-merges-number", ["tokenizer", "info", "{tmp}/tok"],
         _broken_hf_json(lambda d: d["model"].update(merges=5)), "error", ("tokenizer.json", "model.merges")),
    Case("tok-pre-tokenizer-string", ["tokenizer", "info", "{tmp}/tok"],
         _broken_hf_json(lambda d: d.update(pre_tokenizer="ByteLevel")), "error", ("tokenizer.json", "pre_tokenizer")),
    Case("tok-not-json", ["tokenizer", "info", "{tmp}/tok"], _write("tok/tokenizer.json", "{\"model\": "),
         "error", ("tokenizer.json", "invalid JSON")),
    Case("tok-bad-merges-line", ["tokenizer", "info", "{tmp}/tok"],
         lambda t: (_write("tok/encoder.json", json.dumps({chr(c): c for c in range(33, 127)}))(t),
                    _write("tok/vocab.bpe", "#version: 0.2\na b c\n")(t)), "error", ("tok",)),
    Case("tok-train-binary", ["tokenizer", "train", "{tmp}/noise.txt", "--out", "{out}"],
         _write("noise.txt", _random_bytes(5000)), "error", ("noise.txt",)),
    # pack
    Case("pack-no-tokenizer", ["data", "pack", "{tmp}/d.jsonl", "--tokenizer", "{tmp}/none", "-o", "{out}"],
         _write("d.jsonl", _jsonl(_prose_docs(5))), "error", ("none",)),
    Case("pack-broken-tokenizer", ["data", "pack", "{tmp}/d.jsonl", "--tokenizer", "{tmp}/tok", "-o", "{out}"],
         lambda t: (_write("d.jsonl", _jsonl(_prose_docs(5)))(t),
                    _broken_hf_json(lambda d: d["model"].pop("vocab"))(t)), "error", ("tokenizer.json",)),
    Case("pack-val-docs-too-many", ["data", "pack", "{tmp}/d.jsonl", "--tokenizer", "{gpt2}", "-o", "{out}", "--val-docs", "1000", "-w", "1"],
         _write("d.jsonl", _jsonl(_prose_docs(10))), "counted", ("--val-docs 1,000", "9 held out")),
    Case("pack-truncated-gz", ["data", "pack", "{tmp}/d.jsonl.gz", "--tokenizer", "{gpt2}", "-o", "{out}", "-w", "1"],
         _write("d.jsonl.gz", _truncated(gzip.compress, TRUNC_DOCS)), "counted", ("d.jsonl.gz", "at byte")),
    Case("pack-missing-text", ["data", "pack", "{tmp}/d.jsonl", "--tokenizer", "{gpt2}", "-o", "{out}", "-w", "1"],
         _write("d.jsonl", _jsonl(_prose_docs(5)) + b'{"id": "x"}\n'), "counted", ("d.jsonl", "missing 'text'")),
    # train
    Case("train-not-tokens", ["train", "--data", "{tmp}/d", "--out", "{out}", "--steps", "1"],
         _write("d/a.txt", "text"), "error", ("d",)),
    Case("train-bad-recipe", ["train", "--recipe", "{tmp}/r.toml", "--data", "{tokens}", "--out", "{out}"],
         _write("r.toml", "[train]\nlr = = 3\n"), "error", ("r.toml",)),
    Case("train-bad-value", ["train", "--data", "{tokens}", "--out", "{out}", "--set", "train.lr=abc"], None, "error", ("train.lr",)),
    # eval
    Case("eval-missing-model", ["eval", "{tmp}/nomodel", "--out", "{out}", "--tasks", "lambada"], None, "error", ("nomodel",)),
    Case("eval-corrupt-model-config", ["eval", "{tmp}/m", "--out", "{out}", "--tasks", "lambada"],
         _write("m/model_config.json", "{\"n_layer\": "), "error", ("model_config.json",)),
    Case("eval-latest-escapes", ["eval", "{tmp}/run", "--out", "{out}", "--tasks", "lambada"], _run_dir_pointing("../../elsewhere"),
         "error", ("latest", "elsewhere")),
    Case("eval-missing-include-path", ["eval", "{model}", "--out", "{out}", "--tasks", "x", "--include-path", "{tmp}/nodir"],
         None, "error", ("nodir",)),
    Case("eval-unknown-task", ["eval", "{model}", "--out", "{out}", "--tasks", "no_such_task_anywhere"], None, "error",
         ("no_such_task_anywhere",)),
    # export / import
    Case("export-not-a-model", ["export", "{tmp}/d", "--out", "{out}"], _write("d/a.txt", "x"), "error", ("d",)),
    Case("export-latest-escapes", ["export", "{tmp}/run", "--out", "{out}"], _run_dir_pointing("../elsewhere"), "error", ("latest",)),
    Case("export-random-weights", ["export", "{tmp}/m", "--out", "{out}"],
         lambda t: (_tiny_model(t / "m"), _write("m/model.safetensors", _random_bytes(2000))(t)), "error", ("model.safetensors",)),
    Case("import-config-not-json", ["import", "{tmp}/hf", "--out", "{out}"], _write("hf/config.json", "{oops"),
         "error", ("config.json",)),
    Case("import-wrong-model-type", ["import", "{tmp}/hf", "--out", "{out}"],
         _write("hf/config.json", json.dumps({"model_type": "llama"})), "error", ("config.json",)),
    # verify
    Case("verify-path-escapes", ["verify", "{tmp}/stage"], _manifest_dir(lambda m: m["outputs"][0].update(path="../secret.txt")),
         "error", ("manifest.json", "leaves the directory")),
    Case("verify-entry-without-path", ["verify", "{tmp}/stage"], _manifest_dir(lambda m: m["outputs"][0].pop("path")),
         "error", ("manifest.json", "outputs[0]")),
    Case("verify-bad-hash", ["verify", "{tmp}/stage"], _manifest_dir(lambda m: m["outputs"][0].update(hash="foo:1")),
         "error", ("manifest.json", "foo:1")),
    Case("verify-outputs-string", ["verify", "{tmp}/stage"], _manifest_dir(lambda m: m.update(outputs="data.txt")),
         "error", ("manifest.json", "'outputs'")),
    Case("verify-bytes-string", ["verify", "{tmp}/stage"], _manifest_dir(lambda m: m["outputs"][0].update(bytes="7")),
         "error", ("manifest.json", "'bytes'")),
    Case("verify-not-gptkit", ["verify", "{tmp}/plain"], _write("plain/a.txt", "x"), "error", ("plain",)),
    Case("verify-corrupt-manifest", ["verify", "{tmp}/stage"], _write("stage/manifest.json", "{\"stage\": "),
         "error", ("manifest.json",)),
    Case("verify-link-out", ["verify", "{tmp}/stage"],
         lambda t: (_manifest_dir(lambda m: None)(t), (t / "stage" / "data.txt").unlink(),
                    (t / "stage" / "data.txt").symlink_to(t / "secret.txt")), "failed", ("leaves the directory",)),
]  # fmt: skip


# --- the checks ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gpt2():
    return shared_path("tokenizers/gpt2")


@pytest.fixture(scope="module")
def tokens(tmp_path_factory, gpt2):
    """A real token directory (for the train cases that get past their broken argument)."""
    root = tmp_path_factory.mktemp("tokens")
    (root / "d.jsonl").write_bytes(_jsonl(_prose_docs(30)))
    proc = _run(["data", "pack", str(root / "d.jsonl"), "--tokenizer", str(gpt2), "-o", str(root / "tokens"), "-w", "1"], root)
    assert proc.returncode == 0, proc.stderr
    return root / "tokens"


@pytest.fixture(scope="module")
def model(tmp_path_factory, gpt2):
    """A tiny real model directory with the GPT-2 tokenizer."""
    from gptkit.model.gpt import GPT, GPTConfig
    from gptkit.model.store import save_model
    from gptkit.tokenizer import load_tokenizer

    out = tmp_path_factory.mktemp("model") / "m"
    save_model(out, GPT(GPTConfig(n_layer=1, n_head=2, n_embd=16, block_size=32, vocab_size=50257)), load_tokenizer(gpt2))
    return out


@pytest.fixture(scope="module")
def site():
    """A local HTTP server whose ``/to/ADDRESS`` redirects to ``http://ADDRESS/latest/meta-data``."""

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(302 if self.path.startswith("/to/") else 404)
            self.send_header("Location", f"http://{self.path.removeprefix('/to/')}/latest/meta-data")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _run(args: list[str], cwd: Path, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200", **(env_extra or {})}
    proc = subprocess.Popen([sys.executable, "-m", "gptkit", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
    try:
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        leftovers = _session_processes(proc.pid)
        for pid in leftovers:
            os.kill(pid, signal.SIGKILL)
    assert not leftovers, f"processes left behind: {leftovers}"
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def _session_processes(sid: int, grace: float = 10.0) -> list[int]:
    """Processes still in the command's session (its workers, a resource tracker), after a grace period."""
    deadline = time.monotonic() + grace
    while True:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except (OSError, IndexError):
                    continue
                if int(fields[3]) == sid and fields[0] != "Z":
                    found.append(int(entry.name))
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def _snapshot(root: Path, skip: Path) -> dict[str, tuple[int, int] | None]:
    """Every path under ``root`` but ``skip``: files with size and mtime, folders by name only
    (a temporary made and removed inside a folder changes its mtime, not its content)."""
    return {str(p.relative_to(root)): None if p.is_dir() else (p.lstat().st_size, p.lstat().st_mtime_ns)
            for p in root.rglob("*") if skip not in p.parents and p != skip}  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input(case: Case, tmp_path, request):
    out = tmp_path / "out"
    fill = {"tmp": str(tmp_path), "out": str(out)}
    if case.setup is not None:
        case.setup(tmp_path)
    urls = tmp_path / "u.txt"
    if urls.is_file() and urls.read_bytes().startswith(b"{site}"):
        urls.write_text(urls.read_text().format(site=request.getfixturevalue("site")))
    (tmp_path / "sys-tmp").mkdir()
    for name in ("gpt2", "tokens", "model"):
        if any("{" + name + "}" in a for a in case.args):
            fill[name] = str(request.getfixturevalue(name))
    args = [a.format(**fill) for a in case.args]
    before = _snapshot(tmp_path, out)

    proc = _run(["-q", *args], tmp_path, {"TMPDIR": str(tmp_path / "sys-tmp")})

    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    assert _snapshot(tmp_path, out) == before, "something was written outside --out"
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    if case.expect == "error":
        assert proc.returncode == 2, (proc.returncode, proc.stderr)
        assert lines[-1].startswith("error: ") and all(line.startswith("warning: ") for line in lines[:-1]), proc.stderr
        for needle in case.needles:
            assert needle in lines[-1], (needle, lines[-1])
    elif case.expect == "failed":
        assert proc.returncode == 1, (proc.returncode, proc.stderr)
        assert all(needle in proc.stderr for needle in case.needles), proc.stderr
    else:
        assert proc.returncode == 0, proc.stderr
        reports = sorted(p for p in out.glob("*") if p.suffix in (".json", ".jsonl"))  # manifest, stats, fetch log
        reported = proc.stderr + "".join(p.read_text() for p in reports)
        for needle in case.needles:
            assert needle in reported, (needle, reported[-3000:])


def test_the_table_covers_every_stage():
    stages = {tuple(a for a in c.args[:2] if not a.startswith("{"))[:2] for c in CASES}
    commands = {s[0] if s[0] != "data" else s[1] for s in stages}
    assert {"urls", "crawl", "extract", "clean", "tokenizer", "pack", "train", "eval", "export", "import", "verify"} <= commands
    assert len(CASES) >= 40


# --- regressions of issue 14, one per point ---------------------------------------------------------


@pytest.mark.parametrize("suffix, compress", [("gz", gzip.compress), ("xz", lzma.compress), ("bz2", bz2.compress)])
def test_truncated_compressed_input_keeps_the_documents_before_the_damage(tmp_path, suffix, compress):
    """Point 4: gzip/xz/bz2 read incrementally, like zstd; the report gives the byte offset."""
    docs = _prose_docs(3000)
    data = compress(_jsonl(docs))
    cut = int(len(data) * 0.8)
    path = tmp_path / f"d.jsonl.{suffix}"
    path.write_bytes(data[:cut])
    issues: list = []
    kept = list(iter_documents(path, issues.append))
    assert 0.5 * len(docs) < len(kept) < len(docs), len(kept)
    assert [d["id"] for d in kept] == [d["id"] for d in docs[: len(kept)]]
    assert len(issues) == 1 and issues[0].line == len(kept) + 1 and f"at byte {cut:,}" in issues[0].reason
    proc = _run(["-q", "data", "clean", str(path), "--out", str(tmp_path / "out"), "-w", "1"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["documents_in"] == len(kept), stats["documents_in"]
    assert stats["input_issues"]["examples"] == [f"{path}:{len(kept) + 1}: {issues[0].reason}"]


def test_a_line_without_newline_stops_at_the_document_limit(tmp_path):
    """Point 7: a 120 MB line with no newline is cut off at 20 MB, counted, and reading goes on
    with the next line; the process never holds the whole line (main held 430 MB for it)."""
    path = tmp_path / "long.jsonl"
    with open(path, "wb") as f:
        f.write(_jsonl(_prose_docs(3)))
        f.write(b'{"id": "huge", "text": "')
        for _ in range(120):
            f.write(b"y" * (1 << 20))
        f.write(b'"}\n')
        f.write(_jsonl(_prose_docs(3, seed=7)).replace(b'"doc', b'"after'))
    cmd = [sys.executable, "-m", "gptkit", "-q", "data", "clean", str(path), "--out", str(tmp_path / "out"), "-w", "1",
           "--set", "clean.dedup.exact=false", "--set", "clean.dedup.minhash=false"]  # fmt: skip
    with open(tmp_path / "stderr", "wb") as err:
        proc = subprocess.Popen(cmd, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL,
                                stderr=err, start_new_session=True)  # fmt: skip
        peak_kb = _peak_memory_kb(proc)
    assert proc.returncode == 0, (tmp_path / "stderr").read_text()
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    issues = stats["input_issues"]
    assert issues["by_reason"] == {"document too large": 1}, issues
    assert issues["examples"] == [f"{path}:4: document too large: a line over 20,000,000 bytes (skipped)"]
    assert stats["documents_in"] == 6
    assert peak_kb < 250 << 10, f"peak memory {peak_kb >> 10} MB"


def _peak_memory_kb(proc: subprocess.Popen) -> int:
    """The largest peak resident size (VmHWM) of any process of ``proc``'s session, sampled until it
    exits (wait4's ru_maxrss would include the memory of this test process, which forked it)."""
    peak = 0
    while proc.poll() is None:
        for pid in _session_processes(proc.pid, grace=0):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            hwm = next((line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")), "0")
            peak = max(peak, int(hwm))
        time.sleep(0.05)
    return peak
