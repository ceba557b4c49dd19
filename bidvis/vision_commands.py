"""`bidvis vision ...`: camera calibration and scoring of mouth detection on a labelled folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from vision.gate_choice import GateChoice


def _parse_board(text: str) -> tuple[int, int]:
    try:
        cols, rows = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise typer.BadParameter(f"expected inner corners as COLUMNSxROWS, e.g. 9x6, got {text!r}") from None
    if cols < 2 or rows < 2:
        raise typer.BadParameter(f"a board needs at least 2x2 inner corners, got {text!r}")
    return cols, rows


def register(app: typer.Typer) -> None:
    """Add this part's commands to the `bidvis` app."""
    vision_app = typer.Typer(help="Camera calibration and mouth-detection scoring.", no_args_is_help=True)

    @vision_app.command("calibrate-camera")
    def calibrate_camera(
        images: Annotated[Path, typer.Option("--images", help="folder of board images", exists=True, file_okay=False)],
        out: Annotated[Path, typer.Option("--out", help="where to write the intrinsics (JSON)")],
        board: Annotated[
            str, typer.Option("--board", help="checkerboard: inner corners; charuco: squares; COLUMNSxROWS")
        ] = "9x6",
        square_m: Annotated[float, typer.Option("--square-m", help="side of one square (m)", min=1e-4)] = 0.024,
        pattern: Annotated[str, typer.Option("--pattern", help="checkerboard or charuco")] = "checkerboard",
        marker_m: Annotated[float, typer.Option("--marker-m", help="ChArUco marker side (m)", min=1e-4)] = 0.018,
        dictionary: Annotated[str, typer.Option("--dictionary", help="ChArUco marker dictionary")] = "DICT_5X5_100",
    ) -> None:
        """Camera intrinsics from images of a printed checkerboard or ChArUco board (OpenCV calibrateCamera)."""
        import cv2
        from rich.console import Console

        from vision.calibration import calibrate_charuco, calibrate_checkerboard
        from vision.capture import IMAGE_SUFFIXES
        from vision.errors import CalibrationError

        console = Console()
        columns_rows = _parse_board(board)
        if pattern not in ("checkerboard", "charuco"):
            raise typer.BadParameter(f"--pattern must be checkerboard or charuco, got {pattern!r}")
        files = sorted(p for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        frames = [image for image in (cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in files) if image is not None]
        if not frames:
            console.print(f"[red]no readable images in {images}[/red]")
            raise typer.Exit(1)
        try:
            if pattern == "charuco":
                result = calibrate_charuco(frames, columns_rows, square_m, marker_m, dictionary)
            else:
                result = calibrate_checkerboard(frames, columns_rows, square_m)
        except CalibrationError as error:
            console.print(f"[red]calibration failed:[/red] {error}")
            raise typer.Exit(1) from None
        result.intrinsics.save(out)
        k = result.intrinsics
        console.print(
            f"fx={k.fx:.1f} fy={k.fy:.1f} cx={k.cx:.1f} cy={k.cy:.1f} px, {k.width}x{k.height}; "
            f"RMS reprojection {result.rms_error_px:.3f} px from {result.images_used} image(s) "
            f"({result.images_rejected} without the board); written to {out}"
        )

    @vision_app.command("eval")
    def evaluate(
        data: Annotated[
            Path, typer.Option("--data", help="folder with labels.csv and images", exists=True, file_okay=False)
        ],
        backend: Annotated[str, typer.Option("--backend", help="opencv (ours) or mediapipe (reference)")] = "opencv",
        json_path: Annotated[Path | None, typer.Option("--json", help="also write the scores as JSON")] = None,
    ) -> None:
        """Score mouth detection per split: faces found, centre error, open/closed, false detections, ms."""
        import cv2
        from rich.console import Console
        from rich.table import Table

        from vision.evaluation import Backend, DatasetError, choose_thresholds, load_labels, run, score

        cv2.setNumThreads(1)
        console = Console()
        try:
            chosen = Backend(backend)
        except ValueError:
            raise typer.BadParameter(f"backend must be one of {[b.value for b in Backend]}, got {backend!r}") from None
        try:
            results = run(load_labels(data), chosen)
        except DatasetError as error:
            console.print(f"[red]cannot score {data}:[/red] {error}")
            raise typer.Exit(1) from None
        splits = list(dict.fromkeys(r.image.split for r in results))
        scores = [score(results, split) for split in splits]
        table = Table(title=f"mouth detection, backend {chosen.value}, {data}")
        for column in (
            "split",
            "images",
            "faces found",
            "centre err/width mean",
            "median",
            "max",
            "open/closed correct",
            "false detections",
            "ms/image",
        ):
            table.add_column(column)
        for s in scores:
            table.add_row(
                s.split,
                str(s.images),
                f"{s.faces_found}/{s.faces}",
                f"{s.centre_error_mean:.3f}",
                f"{s.centre_error_median:.3f}",
                f"{s.centre_error_max:.3f}",
                f"{s.open_closed_correct}/{s.open_closed}",
                f"{s.false_detections}/{s.no_face_images}",
                f"{s.ms_per_image:.1f}",
            )
        console.print(table)
        summary: dict[str, Any] = {"backend": chosen.value, "splits": [s.as_dict() for s in scores]}
        if "dev" in splits:
            try:
                thresholds = choose_thresholds(results, "dev")
                summary["thresholds_from_dev"] = {"open_at": thresholds.open_at, "close_at": thresholds.close_at}
                console.print(
                    f"open/closed thresholds the dev split suggests: open above {thresholds.open_at}, "
                    f"close below {thresholds.close_at}"
                )
            except DatasetError as error:
                console.print(f"no thresholds from dev: {error}")
        if json_path is not None:
            json_path.write_text(json.dumps(summary, indent=2) + "\n")

    @vision_app.command("choose-gate")
    def choose_gate_command(
        data: Annotated[
            Path, typer.Option("--data", help="folder of clips/ and labels.csv (../shared/data/video)", exists=True)
        ],
        latency_s: Annotated[
            float,
            typer.Option("--latency-s", help="camera-to-observation latency, p95 (docs/benchmarks.md, Vision)", min=0),
        ] = 0.0605,
        limits: Annotated[
            Path | None, typer.Option("--limits", help="safety limits to compare (default: the embedded ones)")
        ] = None,
        json_path: Annotated[Path | None, typer.Option("--json", help="also write the choice as JSON")] = None,
    ) -> None:
        """Choose min_mouth_confidence and stale_after_s on the dev clips under stress; judge them on holdout."""
        import cv2
        from rich.console import Console

        from controller.config import demo_safety_limits, load_safety_limits
        from controller.safety import confident_mouth
        from vision import FaceModels, MouthTracker
        from vision.evaluation import DatasetError
        from vision.gate_choice import GateChoiceError, choose_gate, collect_samples
        from vision.video_evaluation import load_clip_labels

        cv2.setNumThreads(1)
        console = Console()
        configured = demo_safety_limits() if limits is None else load_safety_limits(limits)
        models = FaceModels.load()
        try:
            samples = collect_samples(data, lambda: MouthTracker(models=models))
            choice = choose_gate(
                samples,
                load_clip_labels(data),
                confident_mouth,
                configured.min_mouth_confidence,
                configured.stale_after_s,
                latency_s,
            )
        except (DatasetError, GateChoiceError) as error:
            console.print(f"[red]no choice:[/red] {error}")
            raise typer.Exit(1) from None
        typer.echo(gate_choice_table(choice, configured.min_mouth_confidence))  # Markdown, unwrapped
        console.print(
            f"chosen: min_mouth_confidence = {choice.min_confidence} (configured {configured.min_mouth_confidence}), "
            f"stale_after_s = {choice.stale_after_s} (configured {configured.stale_after_s})"
        )
        if json_path is not None:
            json_path.write_text(json.dumps(choice.as_dict(), indent=2) + "\n")

    app.add_typer(vision_app, name="vision")


def gate_choice_table(choice: GateChoice, configured_min_confidence: float) -> str:
    """The choice as a Markdown table (docs/vision.md, "Confidence the arm obeys")."""
    lines = [
        "| split | threshold | frames | wrong mouths reported / trusted | trusted > 0.25 widths off | "
        "clean frames trusted | stressed frames trusted | trusted error p95 (widths) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rows = [
        ("tuning (dev)", choice.tuning),
        ("held-out (holdout)", choice.held_out),
        (f"held-out, configured {configured_min_confidence}", choice.held_out_configured),
    ]
    for name, j in rows:
        lines.append(
            f"| {name} | {j.threshold} | {j.frames} | {j.wrong_reported} / {j.wrong_trusted} | "
            f"{j.imprecise_trusted} | {j.clean_trusted}/{j.clean_frames} | {j.stressed_trusted}/{j.stressed_frames} | "
            f"{j.trusted_error_p95:.3f} |"
        )
    lines += ["", "| stress | dev: trusted / frames (wrong trusted) | holdout: trusted / frames (wrong trusted) |"]
    lines.append("|---|---|---|")
    for stress, (n, ok, bad) in choice.tuning.by_stress.items():
        hn, hok, hbad = choice.held_out.by_stress.get(stress, (0, 0, 0))
        lines.append(f"| {stress} | {ok}/{n} ({bad}) | {hok}/{hn} ({hbad}) |")
    c = choice.tuning_confidence
    lines += [
        "",
        f"Confidence on {c.split}: from {c.lower} (no wrong mouth trusted from {c.lowest_safe} on, plus the margin; most "
        f"confident wrong mouth {c.highest_wrong:.2f}) to {c.upper} (every clean frame trusted).",
    ]
    lines += ["", "| split | age limit lower bound (s) | longest clean gap (frames) | mouth moved 0.5 widths in (s) |"]
    lines.append("|---|---|---|---|")
    for ages in (choice.tuning_ages, choice.held_out_ages):
        upper = "not within 1 s" if ages.upper_s is None else f"{ages.upper_s:.2f}"
        lines.append(f"| {ages.split} | {ages.lower_s:.3f} | {ages.longest_clean_gap_frames} | {upper} |")
    return "\n".join(lines)
