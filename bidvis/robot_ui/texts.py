"""The citizen panel's words in Danish (the default) and English, and the meal state as words and colour."""

from __future__ import annotations

from enum import StrEnum

from controller.feeding import FeedingState


class Language(StrEnum):
    DANISH = "da"
    ENGLISH = "en"


class Tone(StrEnum):
    """The status colour (CSS class): calm, busy, go, stopped, done."""

    CALM = "calm"
    BUSY = "busy"
    GO = "go"
    STOPPED = "stopped"
    DONE = "done"


PANEL_TEXT: dict[Language, dict[str, str]] = {
    Language.DANISH: {
        "title": "Spisepanel",
        "bowl": "Skål {n}",
        "next_bite": "Næste bid",
        "pause": "Pause",
        "resume": "Fortsæt",
        "done": "Færdig",
        "scan_auto": "Automatisk skanning",
        "scan_help": "Mellemrum: næste knap. Enter: vælg.",
        "language": "English",
        "sent": "Sendt: {what}",
        "refused": "Ikke muligt lige nu. Tilkald personale",
        "offline": "Ingen forbindelse til robotten",
    },
    Language.ENGLISH: {
        "title": "Meal panel",
        "bowl": "Bowl {n}",
        "next_bite": "Next bite",
        "pause": "Pause",
        "resume": "Resume",
        "done": "Done",
        "scan_auto": "Automatic scanning",
        "scan_help": "Space: next button. Enter: select.",
        "language": "Dansk",
        "sent": "Sent: {what}",
        "refused": "Not possible now. Please call staff",
        "offline": "No connection to the robot",
    },
}

_STATE_WORDS: dict[FeedingState | None, tuple[Tone, str, str]] = {
    None: (Tone.CALM, "Klar. Vælg en skål for at begynde", "Ready. Choose a bowl to start"),
    FeedingState.IDLE: (Tone.CALM, "Klar. Vælg en skål for at begynde", "Ready. Choose a bowl to start"),
    FeedingState.CHOOSE_BOWL: (Tone.BUSY, "Vælger skål", "Choosing the bowl"),
    FeedingState.SCOOP: (Tone.BUSY, "Henter mad", "Getting food"),
    FeedingState.READY: (Tone.GO, "Klar til næste bid", "Ready for the next bite"),
    FeedingState.APPROACH: (Tone.GO, "Skeen kommer", "The spoon is coming"),
    FeedingState.AT_MOUTH: (Tone.GO, "Værsgo", "Please take the bite"),
    FeedingState.RETRACT: (Tone.BUSY, "Skeen trækker sig tilbage", "The spoon moves back"),
    FeedingState.PAUSED: (Tone.CALM, "Pause", "Paused"),
    FeedingState.ENDED: (Tone.DONE, "Måltidet er slut", "The meal has ended"),
    FeedingState.FAULT: (Tone.STOPPED, "Stoppet. Tilkald personale", "Stopped. Please call staff"),
}


def parse_language(value: str | None) -> Language:
    """The language of a `lang` parameter; Danish for anything else."""
    try:
        return Language(value or Language.DANISH)
    except ValueError:
        return Language.DANISH


def state_words(state: FeedingState | None, language: Language) -> tuple[Tone, str]:
    """The colour and the words for the meal's state."""
    tone, danish, english = _STATE_WORDS[state]
    return tone, danish if language is Language.DANISH else english


# The staff pages (login and set-up), Danish by default like the panel. Messages of the JSON API
# stay English (they are also for logs and scripts); the page shows them as they come.
STAFF_TEXT: dict[Language, dict[str, str]] = {
    Language.DANISH: {
        "login_title": "bidvis: log ind som personale",
        "username": "Brugernavn",
        "password": "Adgangskode",
        "log_in": "Log ind",
        "log_out": "Log ud",
        "login_help": "Konti oprettes på robotten med bidvis ui add-staff NAVN.",
        "login_wrong": "Forkert brugernavn eller adgangskode.",
        "login_throttled": "For mange forkerte forsøg. Prøv igen om {s} sekunder.",
        "login_no_accounts": "Robotten har ingen personalekonti endnu. Opret en med bidvis ui add-staff NAVN.",
        "login_cross_site": "Login fra en anden side afvist.",
        "language": "English",
        "title": "bidvis: opsætning af robotten",
        "logged_in_as": "Logget ind som",
        "stop": "STOP",
        "status": "Status lige nu",
        "port": "Port",
        "arm": "Arm",
        "not_connected": "ikke forbundet",
        "joints": "Led (grader)",
        "spoon": "Ske (m)",
        "temperatures": "Temperaturer (°C)",
        "jogging": "Bevæger armen",
        "nobody": "ingen",
        "meal": "Måltid",
        "none": "intet",
        "clear_stop": "Ophæv et måltids stop (borger og arm er tjekket)",
        "connect_h": "1. Forbind",
        "connect_p": "Skan bussen for at se hvilke servoer der svarer, og forbind så. Når armen forbindes, tændes "
        "motorerne og servoernes vagthund: de stopper af sig selv, hvis computeren holder op med at tale med dem.",
        "scan": "Skan bussen",
        "scan_all": "ved alle baudrater (langsomt)",
        "connect": "Forbind",
        "disconnect": "Afbryd",
        "servos_found": "Fundne servoer",
        "baud": "Baud",
        "id": "ID",
        "model": "Model",
        "firmware": "Firmware",
        "hw_errors": "Hardwarefejl",
        "jog_h": "2. Flyt armen (hold for at flytte)",
        "jog_p": "Armen bevæger sig kun, mens du holder en knap nede, og stopper når du slipper. Kun én skærm ad gangen kan flytte armen.",
        "joint": "Led {j}",
        "joint_minus": "Led {j} minus",
        "joint_plus": "Led {j} plus",
        "go_ready": "Kør til klarstilling",
        "teach_h": "3. Lær stillinger",
        "teach_p": "Flyt armen til stillingen, og tryk så på knappen: den nuværende stilling gemmes. Klarstilling: skeen vandret, "
        "foran borgerens mund, ca. 15 cm væk. Øse: lær skeens vej gennem skålen, ét punkt ad gangen.",
        "save_ready": "Gem som klarstilling",
        "bowl_label": "Skål {n} ({name}):",
        "waypoints": "punkter",
        "add_waypoint": "Tilføj punkt",
        "clear_bowl": "Start øsning forfra",
        "test_bite": "Prøvebid",
        "new_bowl": "Lær en ny skål (den nuværende stilling er dens første punkt)",
        "spoon_h": "4. Skeens placering",
        "spoon_x": "Langs værktøjet (m)",
        "spoon_z": "Op fra værktøjet (m)",
        "spoon_pitch": "Skeens hældning (rad)",
        "save_spoon": "Gem skeens placering",
        "camera_h": "5. Kamerakalibrering",
        "camera_p": "Print et skakbræt. Tæl dets indre hjørner på tværs og nedad, og mål ét felt. Start, tag billeder som "
        "vejledningen siger (8 eller flere), og beregn.",
        "columns": "Indre hjørner på tværs",
        "rows": "Indre hjørner nedad",
        "square": "Felt (mm)",
        "camera_start": "Start kamerakalibrering",
        "take_view": "Tag billede",
        "camera_solve": "Beregn kamerakalibrering",
        "handeye_h": "Kameraets placering (hånd-øje)",
        "handeye_p": "Sæt brættet fast i skeholderen. Start, og flyt armen til 8 eller flere forskellige stillinger, hvor "
        "kameraet ser hele brættet, med et billede i hver. Beregn så.",
        "handeye_start": "Start hånd-øje-kalibrering",
        "handeye_solve": "Beregn kameraets placering",
        "profile_h": "6. Borgerens profil",
        "speed": "Skeens fart (m/s, højst 0,25)",
        "speed_near": "Fart nær munden (m/s, højst 0,08)",
        "standoff": "Afstand før læberne (m, 0,01-0,05)",
        "trigger_kind": "Hvordan borgeren beder om et bid",
        "dwell": "Mundbevægelse: hold åben (s)",
        "gesture_open": "Mundbevægelse: åben fra mundåbning (standard 0,15)",
        "gesture_close": "... lukket igen ved (standard 0,10)",
        "auto_pace": "Automatisk tempo (s mellem bid)",
        "bite_timeout": "Vent ved munden højst (s)",
        "save_profile": "Gem profil",
        "face_h": "7. Ansigtets størrelse",
        "face_p": "Borgeren sidder ved bordet med ansigtet mod kameraet. Mål afstanden fra kameraets linse til borgerens "
        "læber med et målebånd, skriv den ind og mål. Robotten ser ansigtet i nogle billeder og gemmer "
        "ansigtets størrelse i profilen: så ved den, hvor langt væk munden er.",
        "face_distance": "Linse til læber (m, 0,2-1,5)",
        "face_measure": "Mål ansigtets størrelse",
        "face_now": "Nu",
        "face_not_calibrated": "ikke målt (gennemsnitsansigt antaget)",
        "trigger_switch": "Kontakt",
        "trigger_panel": "Panelet",
        "trigger_mouth_gesture": "Mundbevægelse (åbn og hold)",
        "trigger_auto_pace": "Automatisk tempo",
        "js_refused": "Afvist",
        "js_error": "Fejl",
        "js_offline": "Ingen forbindelse til robotten",
        "js_offline_stops": "Ingen forbindelse til robotten: armen stopper af sig selv.",
        "js_views": "{n} billede(r). Næste:",
    },
    Language.ENGLISH: {
        "login_title": "bidvis: staff log in",
        "username": "User name",
        "password": "Password",
        "log_in": "Log in",
        "log_out": "Log out",
        "login_help": "Accounts are made on the robot with bidvis ui add-staff NAME.",
        "login_wrong": "Wrong user name or password.",
        "login_throttled": "Too many wrong attempts. Try again in {s} seconds.",
        "login_no_accounts": "The robot has no staff accounts yet. Make one with bidvis ui add-staff NAME.",
        "login_cross_site": "Log in from another site refused.",
        "language": "Dansk",
        "title": "bidvis robot set-up",
        "logged_in_as": "Logged in as",
        "stop": "STOP",
        "status": "Live status",
        "port": "Port",
        "arm": "Arm",
        "not_connected": "not connected",
        "joints": "Joints (deg)",
        "spoon": "Spoon (m)",
        "temperatures": "Temperatures (°C)",
        "jogging": "Jogging",
        "nobody": "nobody",
        "meal": "Meal",
        "none": "none",
        "clear_stop": "Clear a meal's stop (citizen and arm checked)",
        "connect_h": "1. Connect",
        "connect_p": "Scan the bus to see which servos answer, then connect. Connecting turns the torque on and arms "
        "the servos' watchdog: they stop by themselves if this computer stops talking to them.",
        "scan": "Scan the bus",
        "scan_all": "at every baud rate (slow)",
        "connect": "Connect",
        "disconnect": "Disconnect",
        "servos_found": "Servos found",
        "baud": "Baud",
        "id": "ID",
        "model": "Model",
        "firmware": "Firmware",
        "hw_errors": "Hardware errors",
        "jog_h": "2. Move the arm (hold to move)",
        "jog_p": "The arm moves only while you hold a button down, and stops when you let go. Only one screen can move the arm at a time.",
        "joint": "Joint {j}",
        "joint_minus": "Joint {j} minus",
        "joint_plus": "Joint {j} plus",
        "go_ready": "Go to ready pose",
        "teach_h": "3. Teach poses",
        "teach_p": "Move the arm to the pose, then press the button: the present pose is saved. Ready pose: the spoon level, "
        "in front of the citizen's mouth, about 15 cm away. Scoop: teach the spoon's path through the bowl, one waypoint at a time.",
        "save_ready": "Save as ready pose",
        "bowl_label": "Bowl {n} ({name}):",
        "waypoints": "waypoints",
        "add_waypoint": "Add waypoint",
        "clear_bowl": "Start scoop again",
        "test_bite": "Test bite",
        "new_bowl": "Teach a new bowl (the present pose is its first waypoint)",
        "spoon_h": "4. Spoon offset",
        "spoon_x": "Along the tool (m)",
        "spoon_z": "Up from the tool (m)",
        "spoon_pitch": "Bowl tilt (rad)",
        "save_spoon": "Save spoon offset",
        "camera_h": "5. Camera calibration",
        "camera_p": "Print a checkerboard. Count its inner corners across and down, and measure one square. Start, then "
        "take views as the guidance says (8 or more). Then compute.",
        "columns": "Inner corners across",
        "rows": "Inner corners down",
        "square": "Square (mm)",
        "camera_start": "Start camera calibration",
        "take_view": "Take view",
        "camera_solve": "Compute camera calibration",
        "handeye_h": "Camera position (hand-eye)",
        "handeye_p": "Fix the board to the spoon holder. Start, then jog the arm to 8 or more different poses where the "
        "camera sees the whole board, taking a view at each. Then compute.",
        "handeye_start": "Start hand-eye calibration",
        "handeye_solve": "Compute camera position",
        "profile_h": "6. Citizen profile",
        "speed": "Spoon speed (m/s, max 0.25)",
        "speed_near": "Speed near the mouth (m/s, max 0.08)",
        "standoff": "Stand-off before the lips (m, 0.01-0.05)",
        "trigger_kind": "How the citizen asks for a bite",
        "dwell": "Mouth gesture dwell (s)",
        "gesture_open": "Mouth gesture: open from mouth opening (default 0.15)",
        "gesture_close": "... closed again at (default 0.10)",
        "auto_pace": "Auto-pace (s between bites)",
        "bite_timeout": "Wait at the mouth at most (s)",
        "save_profile": "Save profile",
        "face_h": "7. Face size",
        "face_p": "The citizen sits at the table facing the camera. Measure the distance from the camera lens to the "
        "citizen's lips with a tape measure, enter it and measure. The robot finds the face in a few pictures "
        "and saves its size in the profile: then it knows how far away the mouth is.",
        "face_distance": "Lens to lips (m, 0.2-1.5)",
        "face_measure": "Measure face size",
        "face_now": "Now",
        "face_not_calibrated": "not measured (the mean face is assumed)",
        "trigger_switch": "Switch",
        "trigger_panel": "Panel",
        "trigger_mouth_gesture": "Mouth gesture (open and hold)",
        "trigger_auto_pace": "Auto-pace",
        "js_refused": "Refused",
        "js_error": "Error",
        "js_offline": "No connection to the robot",
        "js_offline_stops": "No connection to the robot: the arm stops by itself.",
        "js_views": "{n} view(s). Next:",
    },
}
