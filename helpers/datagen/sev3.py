"""SEV3 scenarios: limited impact (a small share of users, a non-critical feature, internal tooling) or a workaround
exists. Each entry: (name, component slot, hard case?, {form: [(report, summary), ...]})."""

SCENARIOS = [
    ("small_share_errors", "svc", False, {
        "pager": [
            ("{open} {svc} error rate {small_pct}% for {dur} minutes; {workaround}.",
             "{svc} has had a {small_pct}% error rate for {dur} minutes."),
        ],
        "ticket": [
            ("{open} About {small_pct}% of requests to {svc} fail with {err}; {workaround}.",
             "About {small_pct}% of requests to {svc} fail with {err}."),
            ("{open} a sliver of traffic to {svc}, {small_pct}% by the dashboard, hits {err}; {workaround}.",
             "{small_pct}% of traffic to {svc} hits {err}.", "unseen"),
        ],
        "chat": [
            ("{open} seeing a trickle of {err} from {svc}, around {small_pct}% of calls, {workaround}",
             "Around {small_pct}% of calls to {svc} return {err}."),
        ],
        "postmortem": [
            ("{open} one bad pod out of many meant {svc} answered {small_pct}% of calls with {err} for {dur} "
             "minutes; the clients' own retry logic hid most of it.",
             "{svc} answered {small_pct}% of calls with {err} for {dur} minutes because of one bad pod."),
        ],
        "handover": [
            ("{open} {svc} kept a low error rate of {small_pct}% all shift, mostly {err}; {workaround}, so I left it "
             "running.",
             "{svc} had a {small_pct}% error rate, mostly {err}."),
        ],
    }),
    ("small_share_alarming_words", "svc", True, {
        "chat": [
            ("{alarm} {svc} is throwing errors!! about {small_pct}% of requests fail, {workaround}",
             "About {small_pct}% of requests to {svc} fail."),
        ],
        "pager": [
            ("{alarm} {svc} returning {err} to customers in {region}! (only {small_pct}% of calls, {workaround})",
             "{svc} returns {err} on {small_pct}% of calls in {region}."),
        ],
        "email": [
            ("{open} {alarm} {svc} is failing for real users. {small_pct}% of checkouts error once, "
             "{workaround}.",
             "{small_pct}% of checkouts on {svc} error once."),
        ],
        "postmortem": [
            ("{open} the incident channel filled with capital letters, yet {svc} had only a {small_pct}% blip that "
             "customers retried past.",
             "{svc} had a {small_pct}% error blip that customers retried past."),
        ],
        "handover": [
            ("{open} {alarm} {svc} errors all night!! {small_pct}% of requests, {workaround}, nobody complained.",
             "{small_pct}% of requests to {svc} failed during the night."),
        ],
    }),
    ("minor_feature", "svc", False, {
        "email": [
            ("{open} {minor_feature} on {svc} has been failing since {time}; everything else works.",
             "{minor_feature} on {svc} has been failing since {time}."),
        ],
        "chat": [
            ("{open} {person} here - {minor_feature} in {svc} gives {err} for some users, they can still do "
             "everything else",
             "{minor_feature} in {svc} gives {err} for some users."),
        ],
        "ticket": [
            ("{open} {minor_feature} does nothing when clicked in {svc}. Core flows are unaffected.",
             "{minor_feature} does nothing when clicked in {svc}."),
            ("{open} synthetic check for {minor_feature} on {svc} failing since {time}; the checks for core "
             "journeys stay green.",
             "The check for {minor_feature} on {svc} has been failing since {time}.", "unseen"),
        ],
        "status": [
            ("{open} {minor_feature} is temporarily unavailable in {svc}. All other features are working normally.",
             "{minor_feature} is temporarily unavailable in {svc}."),
        ],
        "postmortem": [
            ("{open} a null check missing since {time} broke {minor_feature} in {svc}, a side feature few "
             "customers touch.",
             "A missing null check broke {minor_feature} in {svc} from {time}."),
        ],
        "handover": [
            ("{open} nothing major: {minor_feature} on {svc} stopped working at {time}, and the main flows are all "
             "fine.",
             "{minor_feature} on {svc} stopped working at {time}."),
        ],
    }),
    ("internal_outage", "int_svc", True, {
        "pager": [
            ("CRITICAL: {int_svc} is completely down, nobody on the engineering team can use it for {dur} minutes.",
             "{int_svc} has been down for the engineering team for {dur} minutes."),
            ("{open} {int_svc} returning {err} since {time}. Internal tool only.",
             "The internal tool {int_svc} has returned {err} since {time}."),
        ],
        "email": [
            ("{open} {int_svc} (internal) unavailable for employees since {time}; {no_impact}.",
             "The internal {int_svc} has been unavailable for employees since {time}."),
        ],
        "chat": [
            ("{open} {int_svc} {down} for the whole office, deploys are blocked until it's back",
             "{int_svc} is down for staff and deploys are blocked."),
        ],
        "postmortem": [
            ("{open} staff lost {int_svc} for {dur} minutes when its single node filled up; shoppers never saw "
             "a thing.",
             "Staff lost {int_svc} for {dur} minutes when its single node filled up."),
        ],
        "handover": [
            ("{open} {int_svc} {down} since {time} and staff cannot use it; {no_impact}, so it waits for the tooling "
             "team in the morning.",
             "{int_svc} has been unusable for staff since {time}."),
        ],
    }),
    ("feature_with_workaround", "svc", False, {
        "ticket": [
            ("{open} {key_feature} fails in {svc} from the {platform}, but works fine on other clients; "
             "support is pointing users there.",
             "{key_feature} fails in {svc} from the {platform} but works on other clients."),
        ],
        "chat": [
            ("{open} {key_feature} on {svc} breaks on the first try for some people, {workaround}",
             "{key_feature} on {svc} fails on the first try for some users."),
        ],
        "email": [
            ("{open} since {time} {svc} rejects {key_feature} from saved links; typing the address by hand works.",
             "{svc} has rejected {key_feature} from saved links since {time}."),
        ],
        "postmortem": [
            ("{open} the old endpoint for {key_feature} in {svc} stayed broken for {hours} hours, but the new "
             "flow covered everyone who tried it.",
             "The old endpoint for {key_feature} in {svc} stayed broken for {hours} hours."),
        ],
        "handover": [
            ("{open} {key_feature} is broken in {svc} on the {platform}; other clients work and support is sending "
             "people there.",
             "{key_feature} is broken in {svc} on the {platform}."),
        ],
    }),
    ("delayed_non_critical", "svc", False, {
        "pager": [
            ("{open} {svc} queue lag: marketing {channel} messages delayed by {dur} minutes.",
             "Marketing {channel} messages from {svc} are delayed by {dur} minutes."),
        ],
        "ticket": [
            ("{open} Weekly digest mails from {svc} arrive {hours} hours late. Transactional mail is on time.",
             "Weekly digest mails from {svc} arrive {hours} hours late."),
            ("{open} product recommendations from {svc} have not refreshed since {time}; the pages load and checkout "
             "is untouched.",
             "Product recommendations from {svc} have not refreshed since {time}.", "dev"),
        ],
        "chat": [
            ("{open} {svc} recommendations are a day stale since {time}, pages still load fine",
             "{svc} recommendations have been a day stale since {time}."),
        ],
        "postmortem": [
            ("{open} promotional {channel} sends from {svc} backed up for {hours} hours behind a stuck "
             "consumer; receipts and alerts kept flowing.",
             "Promotional {channel} sends from {svc} backed up for {hours} hours."),
        ],
        "handover": [
            ("{open} the marketing {channel} queue in {svc} is still {hours} hours behind; order mails and receipts "
             "go out on time.",
             "The marketing {channel} queue in {svc} is {hours} hours behind."),
        ],
    }),
    ("internal_tooling_degraded", "int_svc", False, {
        "ticket": [
            ("{open} {int_svc} is slow for the support team today, pages take {lat}s. Customers are not involved.",
             "{int_svc} is slow for the support team, with pages taking {lat}s."),
        ],
        "email": [
            ("{open} dashboards in {int_svc} stopped updating at {time}; on-call is flying blind on a few graphs.",
             "Dashboards in {int_svc} stopped updating at {time}."),
        ],
        "chat": [
            ("{open} {int_svc} keeps logging me out every few minutes, annoying but I can work",
             "{int_svc} keeps logging staff out every few minutes."),
        ],
        "postmortem": [
            ("{open} engineers worked around a {hours}-hour {int_svc} brownout by falling back to the command "
             "line.",
             "{int_svc} was browned out for {hours} hours and engineers fell back to the command line."),
        ],
        "handover": [
            ("{open} {int_svc} has been sluggish for staff all evening, {lat}s per page; customers never touch it.",
             "{int_svc} has been slow for staff, with {lat}s per page."),
        ],
    }),
    ("slow_for_few", "svc", False, {
        "pager": [
            ("{open} {svc} p99 latency {lat}s for {small_pct}% of requests; median is normal.",
             "{svc} has a p99 latency of {lat}s on {small_pct}% of requests while the median is normal."),
        ],
        "ticket": [
            ("{open} A handful of customers say {svc} feels slow in {region}. Pages do load, just late.",
             "Some customers in {region} say {svc} is slow but pages load."),
        ],
        "chat": [
            ("{open} {svc} is sluggish for maybe {small_pct}% of sessions, nothing is failing",
             "{svc} is slow for about {small_pct}% of sessions without failures."),
            ("{open} a few people in {region} find {svc} slow, maybe {small_pct}% of sessions, pages still finish "
             "loading",
             "{svc} is slow for about {small_pct}% of sessions in {region}.", "dev"),
        ],
        "postmortem": [
            ("{open} a cold cache after the {time} restart made {svc} slower for the first {dur} minutes; "
             "every request still completed.",
             "{svc} was slower for {dur} minutes after the {time} restart, and every request completed."),
        ],
        "handover": [
            ("{open} {svc} was slow for about {small_pct}% of visitors through the night, p99 around {lat}s, and "
             "every request still succeeded.",
             "{svc} was slow for about {small_pct}% of visitors, with p99 around {lat}s."),
        ],
    }),
    # ---- held out: only in the unseen split
    ("single_tenant_errors", "svc", False, {
        "ticket": [
            ("{open} {tenant} cannot upload files to {svc} since {time}; no other account has the problem.",
             "{tenant} has been unable to upload files to {svc} since {time}."),
        ],
        "email": [
            ("{open} {svc} returns {err} for {tenant} only, traced to its custom domain settings.",
             "{svc} returns {err} for {tenant} because of its custom domain settings."),
        ],
        "pager": [
            ("{open} tenant-scoped error budget burn on {svc}: one account at {big_pct}% errors, fleet at 0%.",
             "One account on {svc} has {big_pct}% errors while the rest are at 0%."),
        ],
        "postmortem": [
            ("{open} {tenant} was stuck behind a bad shard of {svc} for {hours} hours; every other customer "
             "was on healthy shards.",
             "{tenant} was stuck behind a bad shard of {svc} for {hours} hours."),
        ],
    }),
    ("big_count_small_share", "svc", True, {
        "pager": [
            ("{open} {fails} failed requests on {svc} in the last hour! Out of {millions} million, and retries "
             "succeed.",
             "{svc} had {fails} failed requests in an hour out of {millions} million."),
        ],
        "chat": [
            ("{open} {fails} errors logged by {svc} since {time}, that's a lot!! (traffic is {millions} million "
             "requests, so tiny share)",
             "{svc} has logged {fails} errors since {time} out of {millions} million requests."),
        ],
        "email": [
            ("{open} {svc} threw {fails} exceptions today, which sounds scary; against {millions} million calls it "
             "is a rounding error and clients retry.",
             "{svc} threw {fails} exceptions today against {millions} million calls."),
        ],
        "postmortem": [
            ("{open} the headline figure of {fails} errors on {svc} drew attention, but spread over {millions} "
             "million calls it touched almost nobody.",
             "{svc} had {fails} errors over {millions} million calls."),
        ],
    }),
    # ---- held out: only in the dev_unseen split
    ("old_client_version", "svc", False, {
        "ticket": [
            ("{open} Users still on an old version of our mobile app get {err} from {svc} since {time}, about "
             "{small_pct}% of sessions; updating the app fixes it.",
             "Users on an old version of the mobile app get {err} from {svc}, about {small_pct}% of sessions."),
        ],
        "chat": [
            ("{open} {svc} dropped support for the legacy app build, so the {small_pct}% of users who never updated "
             "see {err} until they do",
             "{small_pct}% of users on the legacy app build see {err} from {svc}."),
        ],
        "email": [
            ("{open} since {time} {svc} rejects requests from app versions older than a year, {small_pct}% of "
             "traffic; the store update resolves it for them.",
             "{svc} has rejected requests from app versions older than a year, {small_pct}% of traffic, since {time}."),
        ],
        "handover": [
            ("{open} left for you: outdated app clients ({small_pct}% of sessions) still get {err} from {svc}; an "
             "in-app update prompt is the fix and it works.",
             "Outdated app clients, {small_pct}% of sessions, get {err} from {svc}."),
        ],
    }),
    ("loud_escalation_minor", "svc", True, {
        "email": [
            ("{open} {alarm} our biggest account manager says this is unacceptable: {minor_feature} on {svc} stopped "
             "working at {time}. Everything else works.",
             "{minor_feature} on {svc} stopped working at {time}."),
        ],
        "chat": [
            ("{open} {person} from the exec team is FURIOUS and wants a war room, because {svc} answers {err} on "
             "{minor_feature}; core flows are fine",
             "{svc} answers {err} on {minor_feature}."),
        ],
        "ticket": [
            ("{open} ESCALATED BY VP: {minor_feature} broken in {svc} for some users, customer threatens to leave. "
             "Checkout, login and search unaffected.",
             "{minor_feature} is broken in {svc} for some users."),
        ],
        "handover": [
            ("{open} warning, lots of noise on this one: leadership escalated {minor_feature} in {svc}, broken since "
             "{time}, but nothing else is affected.",
             "Leadership escalated {minor_feature} in {svc}, broken since {time}."),
        ],
    }),
]
