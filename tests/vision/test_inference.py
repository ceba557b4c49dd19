"""The model runtime behind one interface: LiteRT and OpenCV give the same outputs, and a runtime that
is missing, too old or too new, or drops an output says so in one line with the fix."""

from __future__ import annotations

import builtins
import sys

import cv2
import numpy as np
import pytest

from vision.inference import ModelRuntimeError, Runtime, load_network, outputs_by_size
from vision.models import FACE_DETECTOR, FACE_LANDMARKS, NETWORKS, model_path


@pytest.mark.parametrize("name", [FACE_DETECTOR, FACE_LANDMARKS])
def test_litert_and_opencv_give_the_same_outputs(name):
    size = NETWORKS[name]
    x = np.random.default_rng(7).uniform(-1.0, 1.0, (1, size, size, 3)).astype(np.float32)
    litert = load_network(model_path(name), Runtime.LITERT).forward(x)
    opencv = load_network(model_path(name), Runtime.OPENCV).forward(x)
    for a in litert:
        (b,) = [out for out in opencv if out.size == a.size]
        assert np.allclose(a, b, atol=1e-3 * max(1.0, float(np.abs(a).max())))


def test_an_opencv_with_no_engine_for_these_models_is_one_line_with_the_fix(monkeypatch):
    monkeypatch.delattr(cv2.dnn, "ENGINE_CLASSIC", raising=False)
    monkeypatch.setattr("vision.inference._version", lambda distribution, fallback: (5, 0))
    with pytest.raises(ModelRuntimeError, match=r"neither the classic DNN engine.*run scripts/setup") as raised:
        load_network(model_path(FACE_DETECTOR), Runtime.OPENCV)
    assert "\n" not in str(raised.value)


def test_a_missing_litert_is_one_line_with_the_fix(monkeypatch):
    real_import = builtins.__import__

    def no_litert(name, *args, **kwargs):
        if name.startswith("ai_edge_litert"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "ai_edge_litert.interpreter", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_litert)
    with pytest.raises(ModelRuntimeError, match="ai-edge-litert is not installed.*run scripts/setup"):
        load_network(model_path(FACE_DETECTOR), Runtime.LITERT)


def test_a_model_file_the_runtime_cannot_read_is_refused(tmp_path):
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"TFL3 not a model")
    for runtime in Runtime:
        with pytest.raises(ModelRuntimeError, match="cannot load broken.tflite"):
            load_network(broken, runtime)


def test_a_runtime_that_drops_an_output_is_refused_not_half_read():
    with pytest.raises(ModelRuntimeError, match=r"outputs of sizes \[1404\], not \[1404, 1\]"):
        outputs_by_size([np.zeros(1404, np.float32)], 1404, 1)
