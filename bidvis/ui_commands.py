"""`bidvis run` (the robot at a meal, on real hardware), `bidvis ui` (set-up pages, real or virtual
servos), and the robot's accounts, panels and certificate: `bidvis ui add-staff NAME`,
`remove-staff`, `disable-staff`, `enable-staff`, `pair-panel`, `revoke-panel`, `make-certificate`.

The pages listen on 127.0.0.1 unless `--host` says otherwise; on any other address they are
served over HTTPS with the robot's certificate (`make-certificate`), and answer only to the names
in it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

DEFAULT_HTTP_PORT = 8080
DEMO_STAFF_NAME = "demo"
HOST_HELP = (
    "Address the web pages listen on: 127.0.0.1 (this computer only), or a network address "
    "(0.0.0.0: all), served over HTTPS with the certificate of `bidvis ui make-certificate`."
)


def register(app: typer.Typer) -> None:
    """Add `run`, `ui` and `ui add-staff` to the `bidvis` app."""
    app.command("run")(run)
    ui_app = typer.Typer(
        help="The robot's web pages: staff set-up (/staff, with a login) and the citizen's panel (/panel)."
    )
    ui_app.callback(invoke_without_command=True)(ui)
    ui_app.command("add-staff")(add_staff)
    ui_app.command("remove-staff")(remove_staff)
    ui_app.command("disable-staff")(disable_staff)
    ui_app.command("enable-staff")(enable_staff)
    ui_app.command("pair-panel")(pair_panel)
    ui_app.command("revoke-panel")(revoke_panel)
    ui_app.command("make-certificate")(make_certificate)
    app.add_typer(ui_app, name="ui")


def run(
    port: Annotated[str, typer.Option("--port", help="Servo bus: serial device (/dev/ttyUSB0) or URL.")],
    camera: Annotated[
        str,
        typer.Option("--camera", help="Camera: index (0), device (/dev/video0), or a video file or folder (loops)."),
    ],
    profile: Annotated[Path, typer.Option("--profile", help="The citizen's profile file (.toml or .json).")],
    calibration: Annotated[
        Path | None,
        typer.Option(
            "--calibration", help="Robot calibration file [default: robot_calibration.toml next to the profile]."
        ),
    ] = None,
    safety: Annotated[
        Path | None, typer.Option("--safety", help="Safety limits file [default: the built-in limits].")
    ] = None,
    switch: Annotated[
        list[str] | None,
        typer.Option("--switch", help="The citizen's switch: an input device that types a key (repeatable)."),
    ] = None,
    journal: Annotated[Path, typer.Option("--journal", help="Usage journal (SQLite outbox).")] = Path(
        "bidvis-journal.sqlite3"
    ),
    host: Annotated[str, typer.Option("--host", help=HOST_HELP)] = "127.0.0.1",
    http_port: Annotated[
        int, typer.Option("--http-port", help="Port of the web pages (/panel, /staff).")
    ] = DEFAULT_HTTP_PORT,
    careplan_url: Annotated[
        str | None,
        typer.Option(
            "--careplan-url", help="Care-plan service [env BIDVIS_CAREPLAN_URL]; token in BIDVIS_DEVICE_TOKEN."
        ),
    ] = None,
    check: Annotated[bool, typer.Option("--check", help="Only run the start-up checks, then exit.")] = False,
) -> None:
    """Run the robot for a citizen on real hardware: check everything, then serve the panel and staff pages."""
    from bidvis.run import RefusedToStart, build_robot, preflight, serve
    from controller.config import ControllerSettings

    settings = ControllerSettings()
    careplan_url = careplan_url or settings.careplan_url
    careplan = None
    if careplan_url is not None:
        if settings.device_token is None:
            typer.echo(
                "bidvis run: refusing to start: --careplan-url needs the device token in BIDVIS_DEVICE_TOKEN "
                "(from `bidvis careplan enroll-device`)",
                err=True,
            )
            raise typer.Exit(2)
        careplan = (careplan_url, settings.device_token.get_secret_value())
    calibration_path = calibration or profile.parent / "robot_calibration.toml"
    site, certificate = _site(host, calibration_path.parent, "bidvis run")
    try:
        checked = preflight(port, camera, profile, calibration_path, safety, switch)
    except RefusedToStart as exc:
        typer.echo(f"bidvis run: refusing to start: {exc}", err=True)
        raise typer.Exit(2) from None
    for note in checked.notes:
        typer.echo(f"note: {note}")
    servos = ", ".join(f"{i}" for i in sorted(checked.servos))
    typer.echo(
        f"checks passed: servos {servos} on {port}, camera {camera}, calibration by {checked.calibration.changed_by}"
    )
    if check:
        checked.close()
        return
    from bidvis.robot_ui.app import create_app

    staff_login = _staff_login(calibration_path.parent, https_only=site.https)
    _say_if_no_accounts(staff_login, calibration_path.parent)
    session, closers = build_robot(port, checked, profile, calibration_path, journal, careplan)
    _say_where(site, host, http_port)
    try:
        serve(create_app(session, staff_login, site=site), host, http_port, certificate)
    finally:
        for close in closers:
            close()


def ui(
    ctx: typer.Context,
    sim: Annotated[
        bool, typer.Option("--sim", help="Virtual servos and a simulated camera instead of hardware.")
    ] = False,
    port: Annotated[str | None, typer.Option("--port", help="Servo bus (hardware): serial device or URL.")] = None,
    camera: Annotated[
        str | None,
        typer.Option("--camera", help="Camera (hardware) for calibration: index, device, or a video file (loops)."),
    ] = None,
    directory: Annotated[
        Path, typer.Option("--dir", help="Where the calibration, profile and journal files live.")
    ] = Path("."),
    host: Annotated[str, typer.Option("--host", help=HOST_HELP)] = "127.0.0.1",
    http_port: Annotated[int, typer.Option("--http-port", help="Port of the web pages.")] = DEFAULT_HTTP_PORT,
) -> None:
    """Serve the set-up pages (/staff, staff log in) and the panel (/panel): on a real arm (--port)
    or simulated (--sim, with a one-time demo account printed here)."""
    if ctx.invoked_subcommand is not None:
        return
    from bidvis.robot_ui.app import create_app
    from bidvis.robot_ui.staff_login import demo_password
    from bidvis.run import serve, sim_robot

    if sim == (port is not None):
        raise typer.BadParameter("give either --sim or --port")
    site, certificate = _site(host, directory, "bidvis ui")
    staff_login = _staff_login(directory, https_only=site.https)
    if sim:
        robot = sim_robot(directory)
        close = robot.close
        session = robot.session
        password = demo_password()
        staff_login.accounts.add_temporary(DEMO_STAFF_NAME, password)
        typer.echo(f"one-time demo login (this run only): user {DEMO_STAFF_NAME}, password {password}")
    else:
        assert port is not None  # checked above: exactly one of --sim and --port
        session, close = _hardware_session(port, camera, directory)
        _say_if_no_accounts(staff_login, directory)
    _say_where(site, host, http_port)
    try:
        serve(create_app(session, staff_login, site=site), host, http_port, certificate)
    finally:
        close()


def add_staff(
    name: Annotated[str, typer.Argument(help="The account name (letters, digits, . _ @ -).")],
    directory: Annotated[
        Path, typer.Option("--dir", help="The robot's data dir (where its calibration lives).")
    ] = Path("."),
    password: Annotated[
        str, typer.Option(prompt=True, confirmation_prompt=True, hide_input=True, help="Asked for when not given.")
    ] = "",
) -> None:
    """Add a staff account to this robot (or set a new password): argon2 hash in staff_accounts.json."""
    from bidvis.robot_ui.audit import AuditAction
    from bidvis.robot_ui.staff_login import STAFF_ACCOUNTS_FILE, StaffAccounts, StaffAccountsError

    accounts = StaffAccounts(directory / STAFF_ACCOUNTS_FILE)
    existed = accounts.exists(name)
    try:
        accounts.add(name, password)
    except StaffAccountsError as exc:
        typer.echo(f"bidvis ui add-staff: {exc}", err=True)
        raise typer.Exit(2) from None
    _audit(directory, AuditAction.PASSWORD_CHANGED if existed else AuditAction.ACCOUNT_ADDED, target=f"staff:{name}")
    typer.echo(f"staff account {name} saved in {accounts.path}")


def remove_staff(
    name: Annotated[str, typer.Argument(help="The account name.")],
    directory: Annotated[
        Path, typer.Option("--dir", help="The robot's data dir (where its calibration lives).")
    ] = Path("."),
) -> None:
    """Remove a staff account from this robot; its logins end at their next request."""
    from bidvis.robot_ui.audit import AuditAction
    from bidvis.robot_ui.staff_login import STAFF_ACCOUNTS_FILE, StaffAccounts, StaffAccountsError

    accounts = StaffAccounts(directory / STAFF_ACCOUNTS_FILE)
    try:
        removed = accounts.remove(name)
    except (StaffAccountsError, OSError) as exc:
        typer.echo(f"bidvis ui remove-staff: {exc}", err=True)
        raise typer.Exit(2) from None
    if not removed:
        typer.echo(f"bidvis ui remove-staff: no staff account {name!r} in {accounts.path}", err=True)
        raise typer.Exit(1)
    _audit(directory, AuditAction.ACCOUNT_REMOVED, target=f"staff:{name}")
    typer.echo(f"staff account {name} removed from {accounts.path}")


def disable_staff(
    name: Annotated[str, typer.Argument(help="The account name.")],
    directory: Annotated[Path, typer.Option("--dir", help="The robot's data dir.")] = Path("."),
) -> None:
    """Disable a staff account: it cannot log in, and every session of it ends at once."""
    _set_disabled(name, directory, True)


def enable_staff(
    name: Annotated[str, typer.Argument(help="The account name.")],
    directory: Annotated[Path, typer.Option("--dir", help="The robot's data dir.")] = Path("."),
) -> None:
    """Enable a disabled staff account again."""
    _set_disabled(name, directory, False)


def _set_disabled(name: str, directory: Path, disabled: bool) -> None:
    from bidvis.robot_ui.audit import AuditAction
    from bidvis.robot_ui.staff_login import STAFF_ACCOUNTS_FILE, StaffAccounts, StaffAccountsError, UnknownAccount

    command = "disable-staff" if disabled else "enable-staff"
    accounts = StaffAccounts(directory / STAFF_ACCOUNTS_FILE)
    try:
        accounts.set_disabled(name, disabled)
    except UnknownAccount as exc:
        typer.echo(f"bidvis ui {command}: {exc}", err=True)
        raise typer.Exit(1) from None
    except StaffAccountsError as exc:
        typer.echo(f"bidvis ui {command}: {exc}", err=True)
        raise typer.Exit(2) from None
    _audit(directory, AuditAction.ACCOUNT_DISABLED if disabled else AuditAction.ACCOUNT_ENABLED, target=f"staff:{name}")
    typer.echo(f"staff account {name} {'disabled: its sessions have ended' if disabled else 'enabled'}")


def pair_panel(
    directory: Annotated[Path, typer.Option("--dir", help="The robot's data dir.")] = Path("."),
    name: Annotated[str, typer.Option("--name", help="What staff call this panel (Annas tablet).")] = "panel",
) -> None:
    """Pair a citizen's panel with this robot: prints {"panel_id": ..., "token": ...}; the panel
    sends `Authorization: Bearer TOKEN`. Staff revoke it on the staff page or with revoke-panel."""
    from bidvis.robot_ui.audit import AuditAction
    from bidvis.robot_ui.panels import PANELS_FILE, PanelError, PanelRegistry, panel_as_dict

    try:
        panel, token = PanelRegistry(directory / PANELS_FILE).pair(name, "cli")
    except PanelError as exc:
        typer.echo(f"bidvis ui pair-panel: {exc}", err=True)
        raise typer.Exit(2) from None
    _audit(directory, AuditAction.PANEL_PAIRED, target=panel.panel_id, new=panel_as_dict(panel))
    typer.echo(json.dumps({"panel_id": panel.panel_id, "token": token}))


def revoke_panel(
    panel_id: Annotated[str, typer.Argument(help="The panel's id (p-...), as pair-panel or the staff page shows it.")],
    directory: Annotated[Path, typer.Option("--dir", help="The robot's data dir.")] = Path("."),
) -> None:
    """Revoke a paired panel: its token is refused from now on."""
    from bidvis.robot_ui.audit import AuditAction
    from bidvis.robot_ui.panels import PANELS_FILE, PanelError, PanelRegistry, UnknownPanel, panel_as_dict

    try:
        panel = PanelRegistry(directory / PANELS_FILE).revoke(panel_id, "cli")
    except UnknownPanel as exc:
        typer.echo(f"bidvis ui revoke-panel: {exc}", err=True)
        raise typer.Exit(1) from None
    except PanelError as exc:
        typer.echo(f"bidvis ui revoke-panel: {exc}", err=True)
        raise typer.Exit(2) from None
    _audit(directory, AuditAction.PANEL_REVOKED, target=panel_id, new=panel_as_dict(panel))
    typer.echo(f"panel {panel.name} ({panel_id}) revoked")


def make_certificate(
    names: Annotated[
        list[str],
        typer.Option("--name", help="The robot's host name or IP address on the network (repeatable)."),
    ],
    directory: Annotated[Path, typer.Option("--dir", help="The robot's data dir.")] = Path("."),
) -> None:
    """Make the robot's HTTPS certificate (self-signed) for its names on the network; prints its
    fingerprint, for staff to compare with what a tablet's browser shows."""
    from bidvis.robot_ui.certificate import CertificateError
    from bidvis.robot_ui.certificate import make_certificate as make

    try:
        certificate = make(directory, names)
    except CertificateError as exc:
        typer.echo(f"bidvis ui make-certificate: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"certificate for {', '.join(certificate.names)} saved in {certificate.certificate_path}")
    typer.echo(f"SHA-256 fingerprint: {certificate.fingerprint}")


def _audit(directory: Path, action, **values) -> None:
    """Record a command-line action in the robot's audit trail (actor `cli`, client `local`)."""
    from bidvis.robot_ui.audit import AUDIT_FILE, AuditError, AuditLog

    try:
        log = AuditLog(directory / AUDIT_FILE)
    except AuditError as exc:
        typer.echo(f"note: {exc}", err=True)
        return
    try:
        log.record(action, actor="cli", client="local", **values)
    finally:
        log.close()


def _site(host: str, directory: Path, command: str):
    """The names the pages answer to and the certificate to serve them with (None on loopback);
    refuses (exit 2) a network address without a certificate."""
    from bidvis.robot_ui.certificate import CertificateError, load_certificate
    from bidvis.run import site_for

    try:
        site, certificate = site_for(host, directory, load_certificate)
    except (CertificateError, ValueError) as exc:
        typer.echo(f"{command}: refusing to start: {exc}", err=True)
        raise typer.Exit(2) from None
    return site, certificate


def _say_where(site, host: str, http_port: int) -> None:
    scheme = "https" if site.https else "http"
    names = sorted(site.hosts - {"localhost", "127.0.0.1", "::1"})
    shown = names[0] if host in ("0.0.0.0", "::") and names else host
    typer.echo(f"staff: {scheme}://{shown}:{http_port}/staff   panel: {scheme}://{shown}:{http_port}/panel")
    if site.fingerprint:
        typer.echo(f"certificate SHA-256 fingerprint: {site.fingerprint}")


def _say_if_no_accounts(staff_login, directory: Path) -> None:
    """A note when no staff member can log in: no OpenID Provider, and no local account that may use its password."""
    try:
        names = staff_login.accounts.names()
    except Exception as exc:
        typer.echo(f"note: {exc}", err=True)
        return
    if staff_login.openid.clients:
        return
    usable = [name for name in names if staff_login.password_allowed(name)]
    if not names:
        typer.echo(f"note: no staff accounts yet; add one with `bidvis ui add-staff NAME --dir {directory}`")
    elif not usable:
        typer.echo(
            "note: no staff member can log in: configure the OpenID Provider (BIDVIS_UI_OPENID_PROVIDERS), or name "
            "break-glass accounts (BIDVIS_UI_BREAK_GLASS_ACCOUNTS), or let every account use its password "
            "(BIDVIS_UI_PASSWORD_LOGIN=everyone); docs/identity.md"
        )


def _staff_login(directory: Path, https_only: bool = False):
    """The staff accounts of the robot whose files live in `directory`, with the staff's OpenID Providers and
    break-glass accounts from the environment (`BIDVIS_UI_*`, docs/identity.md)."""
    from pydantic import ValidationError

    from bidvis.robot_ui.staff_login import StaffAccountsError, StaffLogin
    from bidvis.robot_ui.staff_openid import StaffIdentitySettings

    try:
        settings = StaffIdentitySettings()
    except ValidationError as exc:
        typer.echo(f"bidvis: the staff login settings (BIDVIS_UI_*) are invalid:\n{exc}", err=True)
        raise typer.Exit(2) from None
    try:
        return StaffLogin.from_settings(directory, settings, https_only=https_only)
    except StaffAccountsError as exc:
        typer.echo(f"bidvis: {exc}", err=True)
        raise typer.Exit(2) from None


def _hardware_session(port: str, camera_source: str | None, directory: Path):
    """A set-up session on real servos; files from `directory` (demo defaults when absent)."""
    from bidvis.robot_ui.session import RobotSession
    from bidvis.run import camera_capture
    from controller.config import (
        ConfigError,
        demo_calibration,
        demo_profile,
        demo_safety_limits,
        load_calibration,
        load_profile,
    )
    from controller.journal import UsageJournal
    from vision.errors import CameraError

    camera = None
    if camera_source is not None:
        try:
            camera = camera_capture(camera_source).start()
        except CameraError as exc:
            typer.echo(f"bidvis ui: {exc}", err=True)
            raise typer.Exit(2) from None

    calibration_path, profile_path = directory / "robot_calibration.toml", directory / "citizen_profile.toml"
    try:
        calibration = load_calibration(calibration_path) if calibration_path.exists() else demo_calibration()
        profile = load_profile(profile_path) if profile_path.exists() else demo_profile()
    except ConfigError as exc:
        typer.echo(f"bidvis ui: {exc}", err=True)
        raise typer.Exit(2) from None
    journal = UsageJournal(directory / "journal.sqlite3")
    session = RobotSession(
        port=port,
        calibration=calibration,
        calibration_path=calibration_path,
        profile=profile,
        profile_path=profile_path,
        limits=demo_safety_limits(),
        journal=journal,
        camera=camera,
    )

    def close() -> None:
        session.close()
        journal.close()
        if camera is not None:
            camera.stop()

    return session, close
