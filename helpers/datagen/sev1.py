"""SEV1 scenarios: a customer-facing service down for most users, data loss or corruption, customer data exposed,
payments failing broadly. Each entry: (name, component slot, hard case?, {form: [(report, summary), ...]})."""

SCENARIOS = [
    ("full_outage", "svc", False, {
        "pager": [
            ("{open} {svc} down: 100% of requests return {err} for the last {dur} minutes in all regions.",
             "{svc} has been down in all regions for {dur} minutes, returning {err} on every request."),
            ("{open} {svc} availability 0% since {time}, synthetic checks fail {everyone} with {err}.",
             "{svc} has had 0% availability since {time}, with checks failing with {err}."),
        ],
        "chat": [
            ("{open} {svc} {down} {everyone}, every request gets {err} since {dur} min ago. "
             "customers can't use it at all",
             "{svc} has been down for all customers for {dur} minutes, returning {err}."),
        ],
        "ticket": [
            ("{open} Customers report that {svc} has been unavailable for {dur} minutes. "
             "All requests fail with {err} in every region.",
             "{svc} has been unavailable in every region for {dur} minutes, with all requests failing with {err}."),
        ],
        "email": [
            ("{open} {svc} stopped responding at {time} and now returns {err} {everyone}. "
             "Support is getting flooded with complaints.",
             "{svc} has returned {err} to all users since {time}."),
            ("{open} every customer who opens {svc} gets {err} right now, and has for {dur} minutes; the whole "
             "product is unusable.",
             "{svc} has returned {err} to every customer for {dur} minutes.", "unseen"),
        ],
        "status": [
            ("{open} {svc} {down} {everyone} since {time}. Our engineers are working on a fix.",
             "{svc} has been down for all users since {time}."),
        ],
        "postmortem": [
            ("{open} between {time} and recovery, {svc} served {err} on every single call worldwide; "
             "nobody could use the product for {dur} minutes.",
             "{svc} served {err} on every call worldwide for {dur} minutes from {time}."),
        ],
        "handover": [
            ("{open} {svc} fell over at {time} and has answered every request with {err} since; I never got it back, "
             "so it is yours now.",
             "{svc} has answered every request with {err} since {time}."),
        ],
    }),
    ("login_outage", "auth_svc", False, {
        "pager": [
            ("{open} {auth_svc} rejects all sign-ins with {err}; login success rate 0% for {dur} minutes.",
             "{auth_svc} has rejected all sign-ins with {err} for {dur} minutes."),
        ],
        "ticket": [
            ("{open} Nobody can log in: {auth_svc} returns {err} on every attempt since {time}.",
             "{auth_svc} has returned {err} on every login attempt since {time}."),
            ("{open} every attempt to sign in through {auth_svc} has bounced with {err} since {time}; sign-in fails "
             "{everyone}.",
             "Every sign-in attempt through {auth_svc} has failed with {err} since {time}.", "dev"),
        ],
        "chat": [
            ("{open} login is broken {everyone}, {auth_svc} times out on every token request. "
             "existing sessions are expiring too",
             "{auth_svc} times out on every token request, so logins fail."),
        ],
        "status": [
            ("{open} Customers cannot sign in to their accounts. {auth_svc} has been failing since {time}.",
             "{auth_svc} has been failing since {time} and customers cannot sign in."),
        ],
        "postmortem": [
            ("{open} once the signing keys rotated at {time}, {auth_svc} refused every credential it saw, "
             "locking all customers out for {dur} minutes.",
             "{auth_svc} refused every credential after the {time} key rotation, locking customers out for "
             "{dur} minutes."),
        ],
        "handover": [
            ("{open} sign-in is still broken as I hand this over: {auth_svc} has turned away every login with {err} "
             "since {time}, so no customer can get in.",
             "{auth_svc} has turned away every login with {err} since {time}."),
        ],
    }),
    ("data_loss", "data_svc", False, {
        "ticket": [
            ("{open} {cause} on {data_svc} deleted {n} customer {what}; no backup of those rows has been found yet.",
             "{cause} on {data_svc} deleted {n} customer {what} with no backup found yet."),
        ],
        "pager": [
            ("{open} [DATA] {data_svc}: {cause} overwrote {n} customer {what} with empty values at {time}.",
             "{cause} on {data_svc} overwrote {n} customer {what} with empty values at {time}."),
        ],
        "email": [
            ("{open} we have confirmed that {n} customer {what} in {data_svc} were permanently removed by {cause}. "
             "Restore attempts so far have failed.",
             "{n} customer {what} in {data_svc} were permanently removed by {cause}."),
        ],
        "chat": [
            ("{open} row counts in {data_svc} dropped by {n} {what} right after {cause}, and the rows are not in "
             "the replica either",
             "{data_svc} lost {n} {what} after {cause}, and the replica does not have them."),
        ],
        "postmortem": [
            ("{open} the root cause was {cause}, which truncated {n} customer {what} in {data_svc}; "
             "the backups taken that morning were empty too.",
             "{cause} truncated {n} customer {what} in {data_svc}, and the backups were empty."),
        ],
        "handover": [
            ("{open} before you start: {cause} removed {n} customer {what} from {data_svc} during my shift, and the "
             "restore from backup did not bring them back.",
             "{cause} removed {n} customer {what} from {data_svc}, and the restore did not bring them back."),
        ],
    }),
    ("data_loss_mild_words", "data_svc", True, {
        "chat": [
            ("{mild} after {cause} on {data_svc}, {n} customer {what} seem to be gone from the database.",
             "{n} customer {what} appear to be missing from {data_svc} after {cause}."),
            ("{open} {person} noticed {n} customer {what} in {data_svc} now have scrambled totals since {cause}, "
             "no rush",
             "{n} customer {what} in {data_svc} have scrambled totals since {cause}."),
        ],
        "ticket": [
            ("{open} minor cleanup item - {data_svc} shows {n} {what} with blank amounts since {cause}. "
             "Low priority whenever someone has time.",
             "{n} {what} in {data_svc} have blank amounts since {cause}."),
        ],
        "email": [
            ("{open} {mild} {person} spotted that {cause} on {data_svc} wrote wrong totals into {n} customer "
             "{what}.",
             "{cause} on {data_svc} wrote wrong totals into {n} customer {what}."),
        ],
        "postmortem": [
            ("{open} it was first logged as a curiosity: {n} customer {what} in {data_svc} had quietly lost their "
             "line items after {cause}.",
             "{n} customer {what} in {data_svc} lost their line items after {cause}."),
        ],
        "handover": [
            ("{open} one leftover item, nothing urgent I think: {data_svc} has {n} customer {what} whose amounts were "
             "zeroed by {cause}, and we hold no copy of the old values.",
             "{data_svc} has {n} customer {what} whose amounts were zeroed by {cause}."),
        ],
    }),
    ("data_exposure", "svc", False, {
        "pager": [
            ("{open} SECURITY: {svc} is showing {exposed} to logged-in users since the {time} deploy.",
             "{svc} has been showing {exposed} to logged-in users since the {time} deploy."),
        ],
        "ticket": [
            ("{open} A customer emailed that {svc} shows them {exposed}. Two more customers confirmed it.",
             "Three customers report that {svc} shows them {exposed}."),
        ],
        "email": [
            ("{open} a caching change on {svc} is serving {exposed} in responses to the wrong accounts. "
             "Security has been looped in.",
             "{svc} is serving {exposed} to the wrong accounts after a caching change."),
            ("{open} {svc} is leaking {exposed} into the account pages of unrelated customers since {time}.",
             "{svc} has been leaking {exposed} to unrelated customers since {time}.", "unseen"),
        ],
        "status": [
            ("{open} We are investigating an issue where {svc} displayed {exposed} to some signed-in customers.",
             "{svc} displayed {exposed} to signed-in customers."),
        ],
        "postmortem": [
            ("{open} for {dur} minutes a shared cache key meant that {svc} returned {exposed} to whoever "
             "loaded the page next.",
             "For {dur} minutes {svc} returned {exposed} to other visitors because of a shared cache key."),
        ],
        "handover": [
            ("{open} security is on it, but keep watching: since {time} {svc} has been putting {exposed} in front of "
             "the wrong signed-in customers.",
             "Since {time} {svc} has been showing {exposed} to the wrong signed-in customers."),
        ],
    }),
    ("exposure_mild_words", "svc", True, {
        "chat": [
            ("{open} probably a fluke, but a customer says {svc} briefly showed them {exposed}. "
             "not sure it's worth a ticket",
             "A customer says {svc} showed them {exposed}."),
        ],
        "email": [
            ("{open} {mild} {person} could see {exposed} on {svc} after switching accounts in the same browser.",
             "{person} could see {exposed} on {svc} after switching accounts."),
        ],
        "ticket": [
            ("{open} Low-impact UI oddity: {svc} renders {exposed} in the sidebar for a few customers.",
             "{svc} renders {exposed} in the sidebar for some customers."),
        ],
        "postmortem": [
            ("{open} the first report called it a display glitch, yet {svc} had handed {exposed} to "
             "strangers for {dur} minutes.",
             "{svc} showed {exposed} to other customers for {dur} minutes."),
        ],
        "handover": [
            ("{open} low on the list, a small display quirk: a customer wrote in that {svc} had put {exposed} on "
             "their own account page.",
             "A customer wrote in that {svc} had put {exposed} on their account page."),
        ],
    }),
    ("payments_failing", "pay_svc", False, {
        "pager": [
            ("{open} {pay_svc}: {pay_pct}% of card payments failing for {dur} minutes across all regions.",
             "{pay_pct}% of card payments on {pay_svc} have been failing across all regions for {dur} minutes."),
        ],
        "chat": [
            ("{open} checkout is broken: {pay_svc} declines {pay_pct}% of payments since {time}, customers can't pay.",
             "{pay_svc} has declined {pay_pct}% of payments since {time}."),
            ("{open} card payments through {pay_svc} are bouncing, {pay_pct}% declined in the last {dur} min, "
             "basically nobody can buy anything",
             "{pay_svc} has declined {pay_pct}% of card payments in the last {dur} minutes.", "dev"),
        ],
        "ticket": [
            ("{open} Merchants report that {pay_pct}% of orders cannot be paid; {pay_svc} returns {err} "
             "at the payment step.",
             "{pay_pct}% of orders cannot be paid because {pay_svc} returns {err} at the payment step."),
        ],
        "status": [
            ("{open} Most payments are failing at checkout. We have traced the problem to {pay_svc} and are "
             "working on it.",
             "Most payments are failing at checkout because of {pay_svc}."),
        ],
        "postmortem": [
            ("{open} an expired processor credential made {pay_svc} refuse {pay_pct}% of transactions for "
             "{dur} minutes before anyone rotated it.",
             "{pay_svc} refused {pay_pct}% of transactions for {dur} minutes because of an expired credential."),
        ],
        "handover": [
            ("{open} checkout was still on fire at shift change: {pay_svc} fails {pay_pct}% of card payments and has "
             "done so for {dur} minutes.",
             "{pay_svc} has failed {pay_pct}% of card payments for {dur} minutes."),
        ],
    }),
    ("outage_calm_words", "svc", True, {
        "chat": [
            ("{open} not sure if known, {svc} seems a little off: it answers {err} to everyone I try, "
             "and has for {dur} minutes",
             "{svc} has answered {err} to every request for {dur} minutes."),
        ],
        "email": [
            ("{open} {mild} {svc} {down} {everyone} since {time}. Probably a small hiccup.",
             "{svc} has been down for all users since {time}."),
        ],
        "ticket": [
            ("{open} Low priority? No customer can load {svc} at the moment ({err} on every page).",
             "No customer can load {svc}, which returns {err} on every page."),
        ],
        "postmortem": [
            ("{open} the page went out as an informational notice even though {svc} was refusing every customer "
             "request for {dur} minutes.",
             "{svc} refused every customer request for {dur} minutes."),
        ],
        "handover": [
            ("{open} probably calm by now, just noting it: {svc} was giving {err} to every visitor when I logged off "
             "at {time}.",
             "{svc} was giving {err} to every visitor at {time}."),
        ],
    }),
    # ---- held out: only in the unseen split
    ("double_charge", "pay_svc", False, {
        "ticket": [
            ("{open} Since {time}, {pay_svc} has been capturing every card payment twice; {charged} customers were "
             "charged double so far.",
             "{pay_svc} has captured card payments twice since {time}, charging {charged} customers double."),
        ],
        "chat": [
            ("{open} refunds team is swamped, {pay_svc} billed {charged} people two times for one purchase after "
             "the {time} release",
             "{pay_svc} billed {charged} customers twice for one purchase after the {time} release."),
        ],
        "status": [
            ("{open} Some customers were charged twice for a single order by {pay_svc}. Duplicate charges will "
             "be reversed.",
             "{pay_svc} charged some customers twice for a single order."),
        ],
        "postmortem": [
            ("{open} an idempotency key was dropped, so {pay_svc} settled {charged} duplicate charges against "
             "customer cards in {dur} minutes.",
             "{pay_svc} settled {charged} duplicate charges against customer cards in {dur} minutes."),
        ],
    }),
    ("few_records_lost", "data_svc", True, {
        "chat": [
            ("{open} tiny thing, only {few} {what} are affected: {cause} erased them from {data_svc} and nobody "
             "can bring them back",
             "{cause} erased {few} {what} from {data_svc} with no way to restore them."),
        ],
        "email": [
            ("{open} just {few} customer {what} in {data_svc} came out of {cause} unrecoverable; the owners have "
             "not been told yet.",
             "{few} customer {what} in {data_svc} are unrecoverable after {cause}."),
        ],
        "pager": [
            ("{open} checksum mismatch: {few} {what} in {data_svc} no longer match any backup after {cause}.",
             "{few} {what} in {data_svc} no longer match any backup after {cause}."),
        ],
        "postmortem": [
            ("{open} the count looked trivial, {few} {what}, but {data_svc} had lost them for good when {cause} "
             "ran twice.",
             "{data_svc} permanently lost {few} {what} when {cause} ran twice."),
        ],
    }),
    # ---- held out: only in the dev_unseen split
    ("public_backup", "data_svc", False, {
        "ticket": [
            ("{open} A backup of {data_svc} with {n} customer {what} was sitting in a publicly readable storage "
             "bucket for {hours} hours before we locked it.",
             "A backup of {data_svc} with {n} customer {what} was publicly readable for {hours} hours."),
        ],
        "pager": [
            ("{open} [SECURITY] public-read ACL detected on the {data_svc} export bucket holding {n} customer {what}; "
             "outside downloads were seen.",
             "The {data_svc} export bucket holding {n} customer {what} was public and outside downloads were seen."),
        ],
        "email": [
            ("{open} an engineer posted a link to a dump of {n} customer {what} from {data_svc} on a public forum at "
             "{time}; it has been pulled, but it was copied.",
             "A dump of {n} customer {what} from {data_svc} was posted on a public forum at {time} and was copied."),
        ],
        "handover": [
            ("{open} the biggest thing from tonight: a snapshot of {data_svc} holding {n} customer {what} was "
             "world-readable for {hours} hours; legal and security are waiting for your update.",
             "A snapshot of {data_svc} holding {n} customer {what} was world-readable for {hours} hours."),
        ],
    }),
    ("few_complaints_outage", "pay_svc", True, {
        "chat": [
            ("{open} only {few} complaints so far so maybe not big, but {pay_svc} has rejected every single card "
             "payment since {time}",
             "{pay_svc} has rejected every card payment since {time}."),
        ],
        "ticket": [
            ("{open} Just {few} customers wrote in, all saying checkout fails; logs show {pay_svc} returning {err} on "
             "100% of payment attempts for {dur} minutes.",
             "{pay_svc} has returned {err} on 100% of payment attempts for {dur} minutes."),
        ],
        "email": [
            ("{open} {mild} support has {few} tickets about it: nobody has managed to pay through {pay_svc} since "
             "{time}.",
             "Nobody has managed to pay through {pay_svc} since {time}."),
        ],
        "handover": [
            ("{open} quiet night apart from {few} support emails, which turned out to be {pay_svc} failing every "
             "payment with {err} from {time} onwards; still not fixed.",
             "{pay_svc} has failed every payment with {err} since {time}."),
        ],
    }),
]
