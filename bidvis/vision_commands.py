"""`bidvis vision ...`: camera calibration and scoring of mouth detection on a labelled folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer


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

    app.add_typer(vision_app, name="vision")
