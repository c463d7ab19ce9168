"""SEV4 scenarios: no customer impact (cosmetic, non-production, a job that recovered by itself, a noisy alert).
Each entry: (name, component slot, hard case?, {form: [(report, summary), ...]})."""

SCENARIOS = [
    ("cosmetic", "svc", False, {
        "ticket": [
            ("{open} customer points out {cosmetic} of {svc}. No functional problem.",
             "A customer reported {cosmetic} of {svc}."),
            ("{open} visual regression test on {svc} flagged {cosmetic}; behaviour is identical to before.",
             "A visual regression test on {svc} flagged {cosmetic}.", "unseen"),
        ],
        "chat": [
            ("{open} minor: {cosmetic} of {svc}, whenever someone has a moment",
             "{svc} has {cosmetic}."),
        ],
        "email": [
            ("{open} design review spotted {cosmetic} of {svc}; {no_impact}.",
             "Design review spotted {cosmetic} of {svc}."),
        ],
        "postmortem": [
            ("{open} a stylesheet merge left {cosmetic} of {svc} for {hours} hours; every action on the page kept "
             "working.",
             "A stylesheet merge left {cosmetic} of {svc} for {hours} hours."),
        ],
        "handover": [
            ("{open} only cosmetic from my side: {cosmetic} of {svc}, ticketed for the design team.",
             "{svc} has {cosmetic}."),
        ],
    }),
    ("non_production", "svc", True, {
        "pager": [
            ("CRITICAL!!! {svc} in {env} is completely down, all requests return {err}.",
             "{svc} in {env} is down and returns {err}."),
        ],
        "chat": [
            ("{open} {svc} in {env} fails to start after the {time} deploy. Production is unaffected.",
             "{svc} in {env} fails to start after the {time} deploy."),
        ],
        "email": [
            ("{open} {alarm} {svc} {down} in {env} and the whole QA run is red; {no_impact}.",
             "{svc} is down in {env} and the QA run is failing."),
        ],
        "ticket": [
            ("{open} {svc} database in {env} was wiped by {cause}. It only holds synthetic test data.",
             "{cause} wiped the {svc} database in {env}, which holds only synthetic test data."),
        ],
        "postmortem": [
            ("{open} the only casualty of the {time} change was {svc} in {env}, which stayed broken for {hours} "
             "hours with no real traffic on it.",
             "{svc} in {env} stayed broken for {hours} hours after the {time} change."),
        ],
        "handover": [
            ("{open} {env} lost {svc} at {time} and I did not get it back up; production never noticed.",
             "{svc} in {env} went down at {time}."),
        ],
    }),
    ("recovered_job", "batch_svc", True, {
        "pager": [
            ("{open} FAILED: {batch_svc} run crashed at {time}! It re-ran by itself {retry_min} min later and "
             "finished, all rows accounted for.",
             "The {batch_svc} run crashed at {time} and finished when it re-ran by itself {retry_min} minutes "
             "later."),
        ],
        "email": [
            ("{open} nightly {batch_svc} job failed at {time} and succeeded on automatic retry {retry_min} minutes "
             "later; no data missing.",
             "The nightly {batch_svc} job failed at {time} and succeeded on automatic retry {retry_min} minutes "
             "later."),
        ],
        "chat": [
            ("{open} {alarm} {batch_svc} blew up at {time}, but the scheduler retried it and it completed "
             "normally",
             "{batch_svc} failed at {time} and completed normally when the scheduler retried it."),
            ("{open} {batch_svc} hiccuped at {time}, then its built-in retry picked it up {retry_min} minutes "
             "later and the output is complete.",
             "{batch_svc} failed at {time} and its retry completed the output {retry_min} minutes later.", "unseen"),
        ],
        "postmortem": [
            ("{open} {batch_svc} lost its worker at {time}, and the orchestrator resubmitted it {retry_min} "
             "minutes later with identical output.",
             "{batch_svc} lost its worker at {time} and was resubmitted {retry_min} minutes later with identical "
             "output."),
        ],
        "handover": [
            ("{open} {batch_svc} failed once at {time}; the automatic rerun {retry_min} minutes later went through "
             "cleanly and the data checks pass.",
             "{batch_svc} failed at {time} and the automatic rerun {retry_min} minutes later went through."),
        ],
    }),
    ("noisy_alert", "svc", False, {
        "pager": [
            ("{open} {svc} disk usage {disk}% on one host (threshold 70%); no errors, {no_impact}.",
             "A {svc} host reached {disk}% disk usage against a 70% threshold with no errors."),
            ("{open} flapping health-check alert on {svc} fired {flaps} times overnight; the service answered "
             "normally throughout.",
             "The {svc} health-check alert fired {flaps} times overnight while the service answered normally."),
        ],
        "chat": [
            ("{open} that {svc} memory alert keeps pinging ({flaps} times today), graphs look totally normal",
             "The {svc} memory alert fired {flaps} times today while graphs look normal."),
            ("{open} {svc} CPU alert has gone off {flaps} times since lunch, the hosts are idle and requests are fine",
             "The {svc} CPU alert went off {flaps} times while requests are fine.", "dev"),
        ],
        "postmortem": [
            ("{open} the page for {svc} was caused by a threshold set too tight: {flaps} firings, all on "
             "healthy hosts.",
             "The {svc} alert fired {flaps} times on healthy hosts because its threshold was too tight."),
        ],
        "handover": [
            ("{open} the disk alert on one {svc} host went off {flaps} times during my shift at {disk}%; the service "
             "was healthy each time, and I filed a ticket to raise the threshold.",
             "The disk alert on one {svc} host went off {flaps} times at {disk}% while the service was healthy."),
        ],
    }),
    ("many_retries_no_impact", "svc", True, {
        "pager": [
            ("{open} {svc} logged {retries} client retries in the last hour; success rate 100%, {no_impact}.",
             "{svc} logged {retries} client retries in an hour with a 100% success rate."),
        ],
        "chat": [
            ("{open} {alarm} {retries} retries on {svc} overnight!!! every one of them succeeded though, "
             "error rate flat at zero",
             "{svc} had {retries} retries overnight and all of them succeeded."),
        ],
        "email": [
            ("{open} the {retries} connection resets on {svc} this morning were all absorbed by the client "
             "library; {no_impact}.",
             "The client library absorbed {retries} connection resets on {svc} this morning."),
        ],
        "postmortem": [
            ("{open} a chatty health checker generated {retries} reconnects against {svc}, visible in the logs "
             "only; users saw normal latency.",
             "A health checker generated {retries} reconnects against {svc} while users saw normal latency."),
        ],
        "handover": [
            ("{open} {alarm} saw {retries} retries on {svc} during the night, but each one went through and the error "
             "graph stayed at zero.",
             "{svc} had {retries} retries during the night and each one went through."),
        ],
    }),
    ("pod_restart_no_impact", "svc", True, {
        "pager": [
            ("{open} {svc} pods CRASHLOOPING: {restarts} restarts since {time}; traffic served by replicas, "
             "{no_impact}.",
             "{svc} pods restarted {restarts} times since {time} while replicas served traffic."),
        ],
        "chat": [
            ("{open} {alarm} {svc} containers got OOM-killed {restarts} times, load balancer moved traffic and "
             "nobody saw an error",
             "{svc} containers were killed {restarts} times without user errors."),
        ],
        "ticket": [
            ("{open} Node failure took out one {svc} instance at {time}; the autoscaler replaced it in "
             "{retry_min} minutes, {no_impact}.",
             "One {svc} instance failed at {time} and the autoscaler replaced it in {retry_min} minutes."),
        ],
        "postmortem": [
            ("{open} a kernel panic rebooted a {svc} host at {time}, and the remaining fleet carried the load "
             "with zero dropped requests.",
             "A {svc} host rebooted at {time} with zero dropped requests."),
        ],
        "handover": [
            ("{open} {svc} containers restarted {restarts} times after {time}, the other replicas took the traffic; "
             "{no_impact}.",
             "{svc} containers restarted {restarts} times after {time} while other replicas took the traffic."),
        ],
    }),
    ("log_noise", "svc", False, {
        "pager": [
            ("{open} {svc} WARN log volume up {big_pct}% since {time}; errors and latency unchanged.",
             "{svc} warning logs have risen {big_pct}% since {time} while errors and latency are unchanged."),
        ],
        "ticket": [
            ("{open} Deprecation warnings from {svc} are filling the log index; {no_impact}.",
             "Deprecation warnings from {svc} are filling the log index."),
        ],
        "chat": [
            ("{open} {svc} spams a harmless 'slow query' warning every few seconds since the {time} deploy, "
             "queries are fine",
             "{svc} has logged a harmless slow query warning every few seconds since the {time} deploy."),
        ],
        "postmortem": [
            ("{open} a verbose logging flag left on in {svc} tripled storage costs for {hours} hours and "
             "changed nothing for users.",
             "A verbose logging flag in {svc} tripled storage costs for {hours} hours."),
        ],
        "handover": [
            ("{open} {svc} is writing a lot more WARN lines since {time} (+{big_pct}%), but errors and latency are "
             "flat, so I left it.",
             "{svc} has written {big_pct}% more warning lines since {time} with flat errors and latency."),
        ],
    }),
    ("canary_rolled_back", "svc", False, {
        "pager": [
            ("{open} {svc} canary failed health checks at {time} and was rolled back automatically before taking "
             "traffic.",
             "The {svc} canary failed health checks at {time} and was rolled back before taking traffic."),
        ],
        "email": [
            ("{open} the {time} release of {svc} never got past the canary stage, the pipeline reverted it; "
             "{no_impact}.",
             "The {time} release of {svc} was reverted at the canary stage."),
            ("{open} automated rollback caught the {svc} build at {time}: it failed canary analysis and served "
             "nothing to customers.",
             "Automated rollback caught the {svc} build at {time} after it failed canary analysis.", "dev"),
        ],
        "chat": [
            ("{open} deploy of {svc} got stopped by the pre-prod smoke tests, nothing shipped",
             "The {svc} deploy was stopped by the smoke tests and nothing shipped."),
        ],
        "postmortem": [
            ("{open} the faulty build of {svc} was caught by the shadow-traffic stage at {time} and never "
             "reached a customer.",
             "The faulty build of {svc} was caught by the shadow-traffic stage at {time}."),
        ],
        "handover": [
            ("{open} the {time} canary of {svc} failed its checks and the pipeline pulled it before any customer "
             "traffic; nothing to do.",
             "The {time} canary of {svc} failed its checks and was pulled before customer traffic."),
        ],
    }),
    # ---- held out: only in the unseen split
    ("expiry_warning", "svc", False, {
        "pager": [
            ("{open} TLS certificate for {svc} expires in {days} days; renewal is scheduled.",
             "The TLS certificate for {svc} expires in {days} days and renewal is scheduled."),
        ],
        "email": [
            ("{open} reminder that the API key {svc} uses for geocoding lapses in {days} days. "
             "Nothing is broken today.",
             "The geocoding API key used by {svc} lapses in {days} days."),
        ],
        "ticket": [
            ("{open} The domain used by {svc} for marketing links needs renewing within {days} days; "
             "{no_impact}.",
             "The marketing link domain used by {svc} needs renewing within {days} days."),
        ],
        "postmortem": [
            ("{open} the expiry notice for {svc} went out {days} days ahead and the cert was swapped with "
             "time to spare.",
             "The expiry notice for {svc} went out {days} days ahead and the cert was swapped in time."),
        ],
    }),
    ("false_alarm_probe", "svc", True, {
        "pager": [
            ("{alarm} {svc} DOWN in all regions per synthetic probe. (probe's own API token expired, real "
             "traffic 100% OK)",
             "A synthetic probe reported {svc} down because its API token expired, while real traffic is fine."),
        ],
        "chat": [
            ("{open} {alarm} the uptime monitor swears {svc} is dead, but it was pointing at a decommissioned "
             "hostname; {no_impact}",
             "The uptime monitor flagged {svc} as dead because it pointed at a decommissioned hostname."),
        ],
        "email": [
            ("{open} the {time} outage page for {svc} was triggered by a misconfigured test probe; "
             "{no_impact}.",
             "The {time} outage page for {svc} was triggered by a misconfigured test probe."),
        ],
        "postmortem": [
            ("{open} what looked like a worldwide {svc} failure at {time} was the monitoring vendor losing its "
             "own network; our service never blinked.",
             "The apparent {svc} failure at {time} was the monitoring vendor losing its network."),
        ],
    }),
    # ---- held out: only in the dev_unseen split
    ("planned_load_test", "svc", False, {
        "pager": [
            ("{open} {svc} took {millions} million synthetic requests from the announced load test since {time}; "
             "latency and errors stayed normal.",
             "{svc} took {millions} million synthetic requests from the announced load test since {time}."),
        ],
        "email": [
            ("{open} reminder that the spike on the {svc} dashboards at {time} was our planned load test; {no_impact}.",
             "The spike on the {svc} dashboards at {time} was the planned load test."),
        ],
        "chat": [
            ("{open} those {svc} traffic alerts are the perf team's scheduled load run, all synthetic, real users are "
             "fine",
             "The {svc} traffic alerts come from the scheduled load run, which is synthetic."),
        ],
        "handover": [
            ("{open} the scheduled load test against {svc} ran {hours} hours as planned and set off a few alerts; "
             "{no_impact}.",
             "The scheduled load test against {svc} ran {hours} hours and set off a few alerts."),
        ],
    }),
    ("test_accounts_purged", "data_svc", True, {
        "pager": [
            ("{open} {alarm} {n} accounts deleted from {data_svc} at {time}! (the synthetic load-test accounts, "
             "removed by the scheduled cleanup)",
             "{n} synthetic load-test accounts were deleted from {data_svc} at {time} by the scheduled cleanup."),
        ],
        "chat": [
            ("{open} {data_svc} row count dropped by {n} overnight, scary at first, but they were all fake QA users "
             "and the purge was planned",
             "{data_svc} dropped {n} fake QA users in a planned purge."),
        ],
        "email": [
            ("{open} {alarm} the {n} {what} that vanished from {data_svc} at {time} were test fixtures; the cleanup "
             "job did what it should, {no_impact}.",
             "The {n} {what} removed from {data_svc} at {time} were test fixtures."),
        ],
        "handover": [
            ("{open} you may see a big drop in {data_svc}: {n} demo {what} were wiped at {time} as planned, none of "
             "them belonged to a real customer.",
             "{n} demo {what} in {data_svc} were wiped at {time} as planned."),
        ],
    }),
]
