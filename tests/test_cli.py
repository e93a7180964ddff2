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
        ("[probes.gradcan]\n", "unknown method 'gradcan'"),
        ("seed = \n", "TOML syntax error"),
    ],
)
def test_user_error_is_one_clear_message(tmp_path, toml, message):
    (tmp_path / "content").mkdir()
    cfg = tmp_path / "content" / "atlas.toml"
    cfg.write_text(toml)
    r = run(
        "--config", str(cfg), "--out", str(tmp_path / "site"), "--cache", str(tmp_path / "cache")
    )
    assert r.returncode == 1
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert r.stderr.startswith("cnnatlas: ") and r.stderr.count("\n") == 1
    assert not (tmp_path / "site").exists()


def test_debug_shows_the_traceback(tmp_path):
    cfg = tmp_path / "atlas.toml"
    cfg.write_text("[train]\nepoch = 2\n")
    r = run("--config", str(cfg), "--debug")
    assert r.returncode == 1 and "Traceback" in r.stderr


def test_missing_config_file(tmp_path):
    r = run("--config", str(tmp_path / "nope.toml"))
    assert r.returncode == 1 and "config file not found" in r.stderr
