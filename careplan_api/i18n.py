"""Danish (default) and English texts of the web pages, language negotiation and number formats.

Pick the language with `negotiate(lang_query, accept_language)`: an explicit `?lang=` wins, then
the first supported language of the `Accept-Language` header, else Danish.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo


class Lang(StrEnum):
    """Languages of the pages."""

    DA = "da"
    EN = "en"


DEFAULT_LANG = Lang.DA
DISPLAY_TZ = ZoneInfo("Europe/Copenhagen")

_TEXTS: dict[Lang, dict[str, str]] = {
    Lang.DA: {
        "app_name": "bidvis plejeplan",
        "skip_to_content": "Spring til indhold",
        "language": "Sprog",
        "other_language": "English",
        "report_title": "Måltidsrapport",
        "effect_title": "Effekt af spiserobotten",
        "effect_intro": "Tallene kommer fra de måltider, robotten har logget. Personaletid er den tid, personalet har registreret at bruge på at made borgeren ved et måltid, gange måltider spist med robotten. FSIII-niveau er personalets vurdering af funktionsevnen (0 ingen, 4 totale begrænsninger).",
        "staff_minutes_freed": "Personaleminutter frigjort",
        "effect_without_time": "{n} måltider uden registreret madningstid er ikke talt med",
        "self_started_share": "Bidder borgeren selv startede",
        "meals_per_week": "Måltider med robot pr. uge",
        "fsiii_change": "FSIII-niveau (først → sidst)",
        "fsiii_level": "FSIII-niveau",
        "robot_meals": "Måltider med robot",
        "effect_table": "Effekt pr. uge",
        "citizen": "Borger (pseudonym)",
        "period": "Periode",
        "weeks": "uger",
        "summary": "Overblik",
        "meals": "Måltider",
        "bites_offered": "Bidder tilbudt",
        "bites_taken": "Bidder taget",
        "pace": "Tempo (bidder/min)",
        "duration": "Varighed (min)",
        "assistance": "Hjælpebehov (FSIII 0-4)",
        "staff_assists": "Bidder udløst af personale",
        "incidents": "Hændelser",
        "bowls": "Fra skål (taget/tilbudt)",
        "started": "Start",
        "trend_title": "Udvikling pr. uge",
        "trend_caption": "Bidder taget pr. måltid og tempo pr. uge. Samme tal står i tabellen nedenfor.",
        "trend_alt": "Graf over bidder taget pr. måltid og tempo pr. uge, {first} til {last}.",
        "week": "Uge",
        "week_label": "uge {week}, {year}",
        "mean_bites": "Bidder taget pr. måltid (gns.)",
        "mean_pace": "Tempo (gns.)",
        "mean_duration": "Varighed (gns. min)",
        "safety_stops": "Sikkerhedsstop",
        "meal_list": "Måltider i perioden",
        "no_meals": "Ingen måltider i perioden.",
        "none": "–",
        "goal": "Mål for spise og drikke (FSIII)",
        "assessed_level": "Vurderet niveau",
        "no_goal": "Intet mål registreret.",
        "level_0": "0 Ingen/ubetydelige begrænsninger",
        "level_1": "1 Lette begrænsninger",
        "level_2": "2 Moderate begrænsninger",
        "level_3": "3 Svære begrænsninger",
        "level_4": "4 Totale begrænsninger",
        "incident_safety_stop": "Sikkerhedsstop",
        "incident_fault": "Fejl",
        "incident_misfire": "Fejludløsning",
        "incident_bite_timeout": "Bid ikke taget",
        "unfinished": "ikke afsluttet",
        "audit_note": "Din visning af denne side er registreret i loggen med formålet: {purpose}",
        "dashboard_title": "Kommunens overblik",
        "dashboard_months_note": "Hver måned vises, når den er slut og en uge mere er gået, og dens tal ændres aldrig derefter.",
        "dashboard_too_few": "Færre end {min} borgere spiste med robotten i måneden; ingen tal vises.",
        "dashboard_no_release": "Ingen afsluttede måneder endnu.",
        "month_1": "Januar",
        "month_2": "Februar",
        "month_3": "Marts",
        "month_4": "April",
        "month_5": "Maj",
        "month_6": "Juni",
        "month_7": "Juli",
        "month_8": "August",
        "month_9": "September",
        "month_10": "Oktober",
        "month_11": "November",
        "month_12": "December",
        "dashboard_intro": "Tal for grupper af borgere. Grupper med færre end {min} borgere vises ikke, så ingen enkeltperson kan genkendes.",
        "by_unit": "Pr. enhed",
        "by_level": "Pr. vurderet FSIII-niveau",
        "total": "I alt",
        "group": "Gruppe",
        "citizens": "Borgere",
        "meals_per_citizen": "Måltider pr. borger",
        "stops_per_100": "Sikkerhedsstop pr. 100 måltider",
        "suppressed": "færre end {min}",
        "no_level": "Ikke vurderet",
        "dashboard_chart_caption": "Måltider pr. borger pr. enhed. Undertrykte grupper er udeladt.",
        "dashboard_chart_alt": "Søjlediagram over måltider pr. borger for {n} enheder.",
        "chart_empty": "Ingen data at vise.",
        "log_title": "Hvem har set oplysningerne",
        "log_link": "Se hvem der har set borgerens oplysninger",
        "log_intro": "Alle opslag i, ændringer af og udtræk fra borgerens oplysninger, nyeste først (højst {limit}).",
        "log_when": "Tidspunkt",
        "log_who": "Hvem",
        "log_action": "Handling",
        "log_what": "Hvad",
        "log_purpose": "Formål",
        "log_outcome": "Udfald",
        "log_empty": "Ingen registrerede opslag.",
        "outcome_ok": "tilladt",
        "outcome_denied": "afvist",
        "action_read": "læst",
        "action_search": "søgt",
        "action_create": "oprettet",
        "action_update": "ændret",
        "action_delete": "slettet",
        "action_export": "udtrukket",
        "action_login": "logget ind",
        "action_denied": "afvist",
        "actor_system": "systemet",
        "actor_device": "robotten",
        "login_title": "Log ind",
        "username": "Brugernavn",
        "password": "Adgangskode",
        "login_button": "Log ind",
        "login_failed": "Forkert brugernavn eller adgangskode. Prøv igen.",
        "login_throttled": "For mange forkerte forsøg. Prøv igen om {minutes} min.",
        "logout_button": "Log ud",
        "signed_in_as": "Du er logget ind som {username} ({role}).",
        "go_to_start": "Gå til din startside",
        "staff_hint": "Åbn en borgers måltidsrapport fra linket i omsorgssystemet.",
        "login_with": "Log ind med {title}",
        "login_choose": "Vælg, hvordan du vil logge ind.",
        "break_glass_title": "Nødadgang for administrator",
        "break_glass_hint": "Kun for administratoren, når login-tjenesterne ikke virker.",
        "login_problem_title": "Du blev ikke logget ind",
        "login_unavailable": "{title} svarer ikke lige nu. Prøv igen om lidt.",
        "login_refused_state": "Dette login er allerede brugt, for gammelt eller startet i en anden browser. Start forfra.",
        "login_refused_expired": "Svaret fra {title} er for gammelt. Log ind igen.",
        "login_refused_token": "Svaret fra {title} kunne ikke godkendes. Log ind igen. Sker det igen, så kontakt kommunens it-afdeling.",
        "login_refused_provider": "{title} afbrød login. Prøv igen.",
        "login_refused_claims": "Du har ikke adgang her. Skal du have adgang, så kontakt kommunen.",
        "login_unknown_provider": "Den login-tjeneste findes ikke her.",
        "login_try_again": "Prøv igen",
        "login_done": "Du er logget ind.",
        "login_continue": "Fortsæt",
        "purpose_title": "Hvorfor åbner du borgerens oplysninger?",
        "purpose_intro": "Oplysningerne er personlige. Dit opslag registreres i loggen med det formål, du angiver her, og borgeren kan se det.",
        "purpose_invalid": "Angiv et formål på {min} til {max} tegn.",
        "purpose_choice": "Formål",
        "purpose_care": "omsorg",
        "purpose_follow_up": "opfølgning",
        "purpose_note": "Andet eller uddybning (fritekst)",
        "purpose_submit": "Fortsæt",
    },
    Lang.EN: {
        "app_name": "bidvis care plan",
        "skip_to_content": "Skip to content",
        "language": "Language",
        "other_language": "Dansk",
        "report_title": "Meal report",
        "effect_title": "Effect of the eating robot",
        "effect_intro": "The figures come from the meals the robot logged. Staff time is the time staff recorded for feeding the citizen by hand at one meal, times the meals eaten with the robot. The FSIII level is staff's assessment of functioning (0 none, 4 total limitation).",
        "staff_minutes_freed": "Staff minutes freed",
        "effect_without_time": "{n} meals without a recorded feeding time are not counted",
        "self_started_share": "Bites the citizen started",
        "meals_per_week": "Meals with the robot per week",
        "fsiii_change": "FSIII level (first → last)",
        "fsiii_level": "FSIII level",
        "robot_meals": "Meals with the robot",
        "effect_table": "Effect per week",
        "citizen": "Citizen (pseudonym)",
        "period": "Period",
        "weeks": "weeks",
        "summary": "Summary",
        "meals": "Meals",
        "bites_offered": "Bites offered",
        "bites_taken": "Bites taken",
        "pace": "Pace (bites/min)",
        "duration": "Duration (min)",
        "assistance": "Assistance needed (FSIII 0-4)",
        "staff_assists": "Bites triggered by staff",
        "incidents": "Incidents",
        "bowls": "From bowl (taken/offered)",
        "started": "Start",
        "trend_title": "Trend per week",
        "trend_caption": "Bites taken per meal and pace per week. The table below holds the same numbers.",
        "trend_alt": "Chart of bites taken per meal and pace per week, {first} to {last}.",
        "week": "Week",
        "week_label": "week {week}, {year}",
        "mean_bites": "Bites taken per meal (mean)",
        "mean_pace": "Pace (mean)",
        "mean_duration": "Duration (mean min)",
        "safety_stops": "Safety stops",
        "meal_list": "Meals in the period",
        "no_meals": "No meals in the period.",
        "none": "–",
        "goal": "Goal for eating and drinking (FSIII)",
        "assessed_level": "Assessed level",
        "no_goal": "No goal recorded.",
        "level_0": "0 No or negligible limitations",
        "level_1": "1 Light limitations",
        "level_2": "2 Moderate limitations",
        "level_3": "3 Severe limitations",
        "level_4": "4 Total limitations",
        "incident_safety_stop": "Safety stop",
        "incident_fault": "Fault",
        "incident_misfire": "Misfire",
        "incident_bite_timeout": "Bite not taken",
        "unfinished": "not finished",
        "audit_note": "Your view of this page is logged with the purpose: {purpose}",
        "dashboard_title": "Municipality overview",
        "dashboard_months_note": "Each month is shown once it has ended and one more week has passed, and its figures never change after that.",
        "dashboard_too_few": "Fewer than {min} citizens ate with the robot in the month; no figures are shown.",
        "dashboard_no_release": "No closed months yet.",
        "month_1": "January",
        "month_2": "February",
        "month_3": "March",
        "month_4": "April",
        "month_5": "May",
        "month_6": "June",
        "month_7": "July",
        "month_8": "August",
        "month_9": "September",
        "month_10": "October",
        "month_11": "November",
        "month_12": "December",
        "dashboard_intro": "Figures for groups of citizens. Groups of fewer than {min} citizens are not shown, so no single person can be recognised.",
        "by_unit": "By unit",
        "by_level": "By assessed FSIII level",
        "total": "Total",
        "group": "Group",
        "citizens": "Citizens",
        "meals_per_citizen": "Meals per citizen",
        "stops_per_100": "Safety stops per 100 meals",
        "suppressed": "fewer than {min}",
        "no_level": "Not assessed",
        "dashboard_chart_caption": "Meals per citizen per unit. Suppressed groups are left out.",
        "dashboard_chart_alt": "Bar chart of meals per citizen for {n} units.",
        "chart_empty": "No data to show.",
        "log_title": "Who has looked at the data",
        "log_link": "See who has looked at the citizen's data",
        "log_intro": "Every read, change and export of the citizen's data, newest first (at most {limit}).",
        "log_when": "Time",
        "log_who": "Who",
        "log_action": "Action",
        "log_what": "What",
        "log_purpose": "Purpose",
        "log_outcome": "Outcome",
        "log_empty": "No recorded access.",
        "outcome_ok": "allowed",
        "outcome_denied": "refused",
        "action_read": "read",
        "action_search": "searched",
        "action_create": "created",
        "action_update": "changed",
        "action_delete": "deleted",
        "action_export": "exported",
        "action_login": "logged in",
        "action_denied": "refused",
        "actor_system": "the system",
        "actor_device": "the robot",
        "login_title": "Log in",
        "username": "Username",
        "password": "Password",
        "login_button": "Log in",
        "login_failed": "Wrong username or password. Please try again.",
        "login_throttled": "Too many failed attempts. Please try again in {minutes} min.",
        "logout_button": "Log out",
        "signed_in_as": "You are logged in as {username} ({role}).",
        "go_to_start": "Go to your start page",
        "staff_hint": "Open a citizen's meal report from the link in the care system.",
        "login_with": "Log in with {title}",
        "login_choose": "Choose how to log in.",
        "break_glass_title": "Break-glass access for the administrator",
        "break_glass_hint": "Only for the administrator, when the login services do not work.",
        "login_problem_title": "You were not logged in",
        "login_unavailable": "{title} does not answer right now. Please try again in a moment.",
        "login_refused_state": "This login was used already, is too old, or was started in another browser. Please start again.",
        "login_refused_expired": "The answer from {title} is too old. Please log in again.",
        "login_refused_token": "The answer from {title} could not be accepted. Please log in again. If it happens again, contact the municipality's IT department.",
        "login_refused_provider": "{title} ended the login. Please try again.",
        "login_refused_claims": "You have no access here. If you should have, contact the municipality.",
        "login_unknown_provider": "There is no such login service here.",
        "login_try_again": "Try again",
        "login_done": "You are logged in.",
        "login_continue": "Continue",
        "purpose_title": "Why do you open the citizen's data?",
        "purpose_intro": "This is personal data. Your view is logged with the purpose you give here, and the citizen can see it.",
        "purpose_invalid": "Give a purpose of {min} to {max} characters.",
        "purpose_choice": "Purpose",
        "purpose_care": "care",
        "purpose_follow_up": "follow-up",
        "purpose_note": "Other or details (free text)",
        "purpose_submit": "Continue",
    },
}

_ACCEPT_ITEM = re.compile(r"^\s*([A-Za-z]{1,8})(?:-[A-Za-z0-9]{1,8})*\s*(?:;\s*q\s*=\s*([01](?:\.\d{0,3})?))?\s*$")


def negotiate(lang_query: str | None, accept_language: str | None) -> Lang:
    """The page language: `?lang=` if supported, else the best supported `Accept-Language`, else Danish."""
    if lang_query:
        try:
            return Lang(lang_query.strip().lower())
        except ValueError:
            pass
    best: tuple[float, int, Lang] | None = None
    for position, item in enumerate((accept_language or "")[:1000].split(",")[:50]):
        match = _ACCEPT_ITEM.match(item)
        if match is None:
            continue
        quality = float(match.group(2)) if match.group(2) else 1.0
        try:
            lang = Lang(match.group(1).lower())
        except ValueError:
            continue
        if quality > 0 and (best is None or (quality, -position) > (best[0], best[1])):
            best = (quality, -position, lang)
    return best[2] if best else DEFAULT_LANG


def texts(lang: Lang) -> Mapping[str, str]:
    """All texts of one language (the templates read them as `t.key`)."""
    return _TEXTS[lang]


def number(value: float | int | None, lang: Lang, digits: int = 1) -> str:
    """A number as the language writes it (Danish decimal comma); `–` for no value."""
    if value is None:
        return _TEXTS[lang]["none"]
    text = f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"
    text = text.replace(",", "\u2009").replace(".", ",") if lang is Lang.DA else text.replace(",", "\u2009")
    return text


def local_time(when: datetime) -> str:
    """Date and time in Danish local time, ISO order (unambiguous in both languages)."""
    return when.astimezone(DISPLAY_TZ).strftime("%Y-%m-%d %H:%M")


def local_date(day: date) -> str:
    """A date in ISO order."""
    return day.isoformat()
