"""Surface forms: the registers an incident report arrives in, and the openers that start each of them.

A report template belongs to one form and writes `{open}` where the form's opener goes. Openers are slot values,
in pools of three lists as in `vocab` (shared, unseen, dev): a held-out split uses only its own group's openers.
Two forms are held out whole: only the unseen split has `postmortem` snippets, only dev_unseen has `handover`
notes.
"""

from __future__ import annotations

import random

FORMS = {
    "pager": "a monitoring alert or page",
    "ticket": "a support or ops ticket",
    "chat": "a chat message from a colleague",
    "email": "an e-mail to the on-call team",
    "status": "a draft for the public status page",
    "postmortem": "a snippet of a postmortem or incident review (unseen split only)",
    "handover": "a shift-handover note from the previous on-call (dev_unseen split only)",
}
# Forms held out whole for one split group; every other form is shared.
FORM_GROUP = {"postmortem": "unseen", "handover": "dev"}

OPENERS: dict[str, dict[str, list]] = {
    "pager": {"shared": ["[ALERT]", "[PAGE]", "[FIRING]", "PagerDuty:", "[monitor]"],
              "unseen": ["[NOTIFY]", "Alertmanager says:"], "dev": ["[TRIGGERED]", "Opsgenie alert:"]},
    "ticket": {"shared": ["Ticket #{tk}:", "INC-{tk}:", "Case {tk}:", "Support ticket {tk} -"],
               "unseen": ["Helpdesk {tk}:", "Request {tk} (ops queue):"],
               "dev": ["Escalation #{tk}:", "OPS-{tk}:"]},
    "chat": {"shared": ["hey,", "hi all,", "yo,", "quick one -", "heads up,"], "unseen": ["psst,", "so, um,"],
             "dev": ["hiya,", "morning folks,"]},
    "email": {"shared": ["Hi team,", "Hello all,", "Dear on-call,", "Team -"],
              "unseen": ["Good morning everyone,", "To the on-call rota:"],
              "dev": ["Dear incident team,", "Evening all,"]},
    "status": {"shared": ["Status page draft:", "Draft for the status page:", "Customer notice (draft):"],
               "unseen": ["Proposed public update:", "Wording for the public incident page:"],
               "dev": ["Suggested status text:", "Status update for approval:"]},
    "postmortem": {"shared": [], "unseen": ["Postmortem excerpt:", "From the incident review:", "Timeline note:",
                                            "Retro notes:"], "dev": []},
    "handover": {"shared": [], "unseen": [], "dev": ["Handover from the night shift:", "Shift handover notes:",
                                                     "Passing on from the previous shift -", "End-of-shift summary:"]},
}


def opener(rng: random.Random, form: str, slots: dict, group: str) -> str:
    """The opener of one report of `form` for a split group, its slots filled (a ticket number, say)."""
    return rng.choice(OPENERS[form][group]).format(**slots)
