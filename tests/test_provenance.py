"""What the runner records for the leaderboard: source hashes of the method and trained parameters."""

import hashlib
import json
from pathlib import Path

from benchmarks.run import main

ROOT = Path(__file__).resolve().parent.parent
FAST = ["--set", "epochs=1", "--device", "cpu"]


def _run(args, tmp_path, capsys) -> dict:
    assert main([*args, "--out", str(tmp_path), *FAST]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    return json.loads(Path(last.removeprefix("result: ")).read_text())


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_result_names_the_source_of_the_method_and_its_bases(tmp_path, capsys):
    result = _run(["--method", "finetune"], tmp_path, capsys)
    sources = result["method"]["source_sha256"]
    assert list(sources) == ["methods/finetune.py", "methods/supervised.py", "methods/base.py"]
    assert all(sources[path] == _sha(ROOT / path) for path in sources)
    model_size = result["method"]["trainable_parameters"]
    assert model_size > 0 and all(r["trained_parameters"] == model_size for r in result["steps"][-1:])


def test_plugin_is_hashed_by_file_name_and_frozen_parts_are_not_counted(tmp_path, capsys):
    plugin = ROOT / "examples" / "frozen_backbone.py"
    result = _run(["--method", "frozen-backbone", "--plugin", str(plugin)], tmp_path, capsys)
    sources = result["method"]["source_sha256"]
    assert sources["frozen_backbone.py"] == _sha(plugin) and "methods/finetune.py" in sources
    trained = [r["trained_parameters"] for r in result["steps"]]
    # Step 0 trains backbone and head; later steps only the head: 128 features + bias per seen class.
    assert trained[0] > 10_000 and trained[1:] == [129 * 2 * (i + 1) for i in range(1, 5)]
    assert result["method"]["trainable_parameters"] == trained[0]


def test_a_method_that_trains_nothing_has_no_trainable_parameters(tmp_path, capsys):
    result = _run(["--method", "nmc"], tmp_path, capsys)
    assert result["method"]["trainable_parameters"] == 0
