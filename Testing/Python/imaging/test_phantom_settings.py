"""`phantom` refuses settings that would write an invalid phantom or exhaust the memory (exit 2, nothing written)."""

from __future__ import annotations

import pytest

from HypoxiaMarkersLib.cli import main
from HypoxiaMarkersLib.errors import InputError
from HypoxiaMarkersLib.imaging.phantom import make_phantom


@pytest.mark.parametrize("option, value", [
    ("--noise", "nan"), ("--noise", "-0.1"), ("--frame-interval", "0"), ("--frame-interval", "-10"),
    ("--frame-interval", "nan"), ("--n-frames", "100000"), ("--seed", "-1"), ("--clustering-mm", "inf"),
])
def test_impossible_phantom_settings_exit_2_and_write_nothing(tmp_path, capsys, option, value):
    out = tmp_path / "phantom"
    assert main(["phantom", "--out", str(out), option, value]) == 2
    assert option in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_library_refuses_the_same_settings():
    with pytest.raises(InputError, match="GiB"):
        make_phantom(n_frames=100_000)
    with pytest.raises(InputError, match="frame interval"):
        make_phantom(frame_interval_s=float("nan"))
    with pytest.raises(InputError, match="spacing"):
        make_phantom(spacing=(0.8, 0.0, 5.0))
