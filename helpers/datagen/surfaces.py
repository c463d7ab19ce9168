"""Surface forms: the registers an incident report arrives in, and the openers that start each of them.

A report template belongs to one form and writes `{open}` where the form's opener goes. Openers are slot values
(pairs shared / held out, as in `vocab`): the unseen split uses only the held-out openers. The `postmortem` form
is held out entirely: only the unseen split has postmortem snippets.
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
}
HELD_OUT_FORMS = ("postmortem",)

OPENERS: dict[str, tuple[list, list]] = {
    "pager": (["[ALERT]", "[PAGE]", "[FIRING]", "PagerDuty:", "[monitor]"], ["[NOTIFY]", "Alertmanager says:"]),
    "ticket": (["Ticket #{tk}:", "INC-{tk}:", "Case {tk}:", "Support ticket {tk} -"],
               ["Helpdesk {tk}:", "Request {tk} (ops queue):"]),
    "chat": (["hey,", "hi all,", "yo,", "quick one -", "heads up,"], ["psst,", "so, um,"]),
    "email": (["Hi team,", "Hello all,", "Dear on-call,", "Team -"],
              ["Good morning everyone,", "To the on-call rota:"]),
    "status": (["Status page draft:", "Draft for the status page:", "Customer notice (draft):"],
               ["Proposed public update:", "Wording for the public incident page:"]),
    "postmortem": ([], ["Postmortem excerpt:", "From the incident review:", "Timeline note:", "Retro notes:"]),
}


def opener(rng: random.Random, form: str, slots: dict, unseen: bool) -> str:
    """The opener of one report of `form`, its slots filled (a ticket number, say)."""
    shared, held = OPENERS[form]
    return rng.choice(held if unseen else shared).format(**slots)
