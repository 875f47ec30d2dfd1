"""atheris (libFuzzer) harness for the metadata-file decoders.

Usage: ``python tests/fuzz/fuzz_decoders.py {files,payloads,both} CORPUS_DIR... [flags]``, e.g.
``-max_total_time=30 -timeout=20 -rss_limit_mb=2048``. Build seed corpora first with
``python tests/fuzz/fuzz_decoders.py --make-corpus DIR [REPO...]`` (spec-v2 files written by
pyicechunk, plus the metadata files of any given repositories, e.g. spec-v1 ones written by
icechunk 1.x); it fills ``DIR/files`` and ``DIR/payloads``.

Target ``files`` gives every input, as a whole file, to every decoder
(``targets.decode_all``); target ``payloads`` wraps the input's flatbuffer payload in an
uncompressed header so mutations reach the parsers (``targets.decode_payload``); ``both``
does both to each input (one short run for ``make test``). A Python exception that is
not an ``IcechunkError`` is reported by libFuzzer as a crash, as are inputs that run past
``-timeout`` (a hang) or push the process past ``-rss_limit_mb``; the address-space limit
set below turns a runaway allocation into a ``MemoryError`` crash as well.
"""

from __future__ import annotations

import resource
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

#: Hard cap on the address space: numpy and zarr reserve ~1 GiB; the rest is for decoding.
ADDRESS_SPACE_LIMIT = 4 << 30


def main() -> None:
    if sys.argv[1:2] == ["--make-corpus"]:
        make_corpus(Path(sys.argv[2]), [Path(p) for p in sys.argv[3:]])
        return
    target = sys.argv.pop(1)
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))
    import atheris

    # Coverage feedback only from the decoders: instrumenting all of icechunk costs ~20 s.
    with atheris.instrument_imports(include=["icechunk.format"]):
        from targets import decode_all, decode_payload

    def both(data: bytes) -> None:
        decode_all(data)
        decode_payload(data)

    run = {"files": decode_all, "payloads": decode_payload, "both": both}[target]

    def test_one_input(data: bytes) -> None:
        run(data)

    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


def make_corpus(dest: Path, repos: list[Path]) -> None:
    """Seed files for both targets from a fresh sample repository and ``repos``."""
    from targets import collect_seeds, payload_seed, write_sample_repository

    with tempfile.TemporaryDirectory() as tmp:
        write_sample_repository(Path(tmp) / "repo")
        print(collect_seeds([Path(tmp) / "repo", *repos], dest / "files"))
    (dest / "payloads").mkdir(parents=True, exist_ok=True)
    for seed in sorted((dest / "files").iterdir()):
        payload = payload_seed(seed.read_bytes())
        if payload is not None:
            (dest / "payloads" / seed.name).write_bytes(payload)


if __name__ == "__main__":
    main()
