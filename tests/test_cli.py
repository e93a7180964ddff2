"""The command line: user errors print one message and exit 1, never a traceback."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, str(ROOT / "build.py"), *args], capture_output=True, text=True, cwd=cwd
    )


def run_config(tmp_path, toml: str, name: str = "atlas.toml"):
    """build.py on `toml` written to tmp_path/content/`name`: (its path, the finished run)."""
    (tmp_path / "content").mkdir()
    cfg = tmp_path / "content" / name
    cfg.write_text(toml)
    out, cache = str(tmp_path / "site"), str(tmp_path / "cache")
    return cfg, run("--config", str(cfg), "--out", out, "--cache", cache)


@pytest.mark.parametrize(
    "toml, message",
    [
        ("[train]\nepoch = 2\n", "unknown key 'epoch'; expected one of"),
        (
            "[dataset]\npath = '/nonexistent/fmnist'\n",
            "dataset folder not found; install it with `apt-get install -y dataset-fashion-mnist`",
        ),
        (
            "[probes.gradcam]\nlayers = ['conv_7']\n",
            "unknown layer 'conv_7'; expected one of conv_1_1",
        ),
        (  # an empty list once reached the probe without a layer: a TypeError, then SIGABRT
            "[probes.gradcam]\nlayers = []\n",
            "probes.gradcam.layers: expected distinct layers, at least one, got []",
        ),
        (
            "[probes.gradcampp]\nlayers = ['conv_2_2', 'conv_2_2']\n",
            "expected distinct layers, at least one, got ['conv_2_2', 'conv_2_2']",
        ),
        ("[probes.gradcan]\n", "unknown method 'gradcan'"),
        ("seed = \n", "TOML syntax error"),
    ],
)
def test_user_error_is_one_clear_message(tmp_path, toml, message):
    _, r = run_config(tmp_path, toml)
    assert r.returncode == 1
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert r.stderr.startswith("cnnatlas: ") and r.stderr.count("\n") == 1
    assert not (tmp_path / "site").exists()


@pytest.mark.parametrize(
    "toml, where",
    [  # raised by modules that see only their own table ("atlas.toml: ...", or no file at all)
        ("[model]\nname = 'x'\n", "model.name: unknown model 'x'"),
        ("[model]\nweights = 'no.msgpack'\n", "model.weights: "),
        ("[dataset]\nchannels = 3\n", "dataset.channels: IDX images are grayscale"),
    ],
)
def test_errors_name_the_config_file_passed(tmp_path, toml, where):
    cfg, r = run_config(tmp_path, toml, "my-atlas.toml")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"error: {cfg}: {where}" in r.stderr and "atlas.toml" not in r.stderr.replace(
        "my-atlas.toml", ""
    )


def test_a_bug_shows_its_traceback_says_so_and_exits_1(tiny_build, tmp_path):
    """Not bad input: the traceback is kept for the report, and the exit is a plain 1 (an
    exception leaving main had once aborted the process, SIGABRT, at interpreter teardown)."""
    _, cache, _ = tiny_build
    code = (
        "import sys; sys.path.insert(0, '.'); import build, cnnatlas.pipeline as p\n"
        "def boom(*a, **k): raise RuntimeError('boom')\n"
        "p.render = boom\n"
        "sys.exit(build.main(sys.argv[1:]))"
    )
    out = tmp_path / "site"
    args = ["--config", str(ROOT / "tests/tiny.toml"), "--out", str(out), "--cache", str(cache)]
    r = subprocess.run(
        [sys.executable, "-c", code, *args, "--quiet"], capture_output=True, text=True, cwd=ROOT
    )
    assert r.returncode == 1, r.stderr[-2000:]
    assert "Traceback" in r.stderr and "RuntimeError: boom" in r.stderr
    assert r.stderr.rstrip().endswith("cnnatlas: internal error (a bug, not your input); please "
                                      "report it with the traceback above")  # fmt: skip
    assert not out.exists()


def test_debug_shows_the_traceback(tmp_path):
    cfg = tmp_path / "atlas.toml"
    cfg.write_text("[train]\nepoch = 2\n")
    r = run("--config", str(cfg), "--debug")
    assert r.returncode == 1 and "Traceback" in r.stderr


def test_missing_config_file(tmp_path):
    r = run("--config", str(tmp_path / "nope.toml"))
    assert r.returncode == 1 and "config file not found" in r.stderr
    r = run("--config", str(tmp_path))
    assert r.returncode == 1 and f"{tmp_path}: not a file; pass --config with" in r.stderr


def test_version():
    from cnnatlas import __version__

    r = run("--version")
    assert r.returncode == 0 and r.stdout == f"cnnatlas {__version__}\n"


def test_profile_table_json_and_trace(tiny_build, tmp_path):
    """`--profile` prints the per-phase table and saves it as JSON whose numbers add up;
    `--trace` writes a JAX profiler trace. A copy of the session build's cache makes it a rebuild."""
    import json
    import shutil

    _, cache, _ = tiny_build
    shutil.copytree(cache, tmp_path / "cache")
    r = run(
        "--config", str(ROOT / "tests" / "tiny.toml"), "--out", str(tmp_path / "site"),
        "--cache", str(tmp_path / "cache"), "--profile", "--trace", str(tmp_path / "trace"),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "build profile" in r.stdout and "compile seconds" in r.stdout
    prof = json.loads((tmp_path / "cache" / "profile.json").read_text())
    assert set(prof["seconds"]) == {"data", "model", "compute", "figures", "render"}
    assert set(prof["compile_seconds"]) == set(prof["seconds"])
    for phase, sec in prof["seconds"].items():
        assert 0 <= prof["compile_seconds"][phase] <= sec + 0.05
        assert f"{sec:.2f}" in r.stdout  # the table shows what the JSON holds
    assert f"{sum(prof['seconds'].values()):.2f}" in r.stdout
    assert prof["computed"] == 0 and prof["cached"] > 0 and prof["compute_seconds"] == {}
    assert prof["pages"] > 0 and prof["images"] > 0
    assert list((tmp_path / "trace").rglob("*.xplane.pb")), "no profiler trace written"
