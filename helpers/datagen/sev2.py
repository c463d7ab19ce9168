"""SEV2 scenarios: a significant degradation or partial outage (one region, a key feature, a large share of users)
with no easy workaround. Each entry: (name, component slot, hard case?, {form: [(report, summary), ...]})."""

SCENARIOS = [
    ("region_outage", "svc", False, {
        "pager": [
            ("{open} {svc} unavailable in {region}: all requests return {err} for {dur} minutes; {others_ok}.",
             "{svc} has been unavailable in {region} for {dur} minutes with {err}."),
        ],
        "chat": [
            ("{open} {svc} is down {only_in} {region}, users there get {err}, {others_ok}",
             "{svc} is down in {region}, where users get {err}."),
        ],
        "ticket": [
            ("{open} Since {time}, customers in {region} cannot reach {svc} ({err}). "
             "No failover is configured for that region.",
             "Customers in {region} have been unable to reach {svc} since {time} because of {err}."),
            ("{open} our {region} footprint of {svc} has been offline since {time}: every call there ends in "
             "{err}, {others_ok}.",
             "{svc} in {region} has been offline since {time}, with every call ending in {err}.", "unseen"),
        ],
        "status": [
            ("{open} Customers in the {region} region cannot use {svc}; {others_ok}.",
             "Customers in {region} cannot use {svc}."),
        ],
        "postmortem": [
            ("{open} a zonal networking fault cut {region} off from {svc} for {dur} minutes while every other "
             "location kept serving.",
             "A networking fault cut {region} off from {svc} for {dur} minutes."),
        ],
        "handover": [
            ("{open} {region} is still the problem child: {svc} there has answered {err} since {time} and we have no "
             "failover for it; {others_ok}.",
             "{svc} in {region} has answered {err} since {time}."),
        ],
    }),
    ("major_degradation", "svc", False, {
        "pager": [
            ("{open} {svc} p99 latency is {lat}s and {big_pct}% of requests time out; {no_workaround}.",
             "{svc} has a p99 latency of {lat}s and {big_pct}% of its requests time out."),
            ("{open} {svc} error rate at {big_pct}% for {dur} minutes, {no_workaround}.",
             "{svc} has had a {big_pct}% error rate for {dur} minutes."),
        ],
        "email": [
            ("{open} {svc} has been failing {big_pct}% of requests with {err} since {time} and {no_workaround}.",
             "{svc} has failed {big_pct}% of requests with {err} since {time}."),
        ],
        "ticket": [
            ("{open} Roughly {big_pct}% of sessions on {svc} end in {err}; affected users are stuck.",
             "Roughly {big_pct}% of sessions on {svc} end in {err}."),
            ("{open} {svc} is choking, roughly {big_pct}% of calls come back with {err} and {no_workaround}.",
             "Roughly {big_pct}% of calls to {svc} come back with {err}.", "unseen"),
        ],
        "postmortem": [
            ("{open} the connection pool was undersized, so for {dur} minutes {svc} dropped {big_pct}% of "
             "traffic on the floor.",
             "For {dur} minutes {svc} dropped {big_pct}% of traffic because its connection pool was undersized."),
        ],
        "handover": [
            ("{open} left unresolved at shift change: {big_pct}% of calls to {svc} time out after {lat}s, "
             "{no_workaround}.",
             "{big_pct}% of calls to {svc} time out after {lat}s."),
        ],
    }),
    ("major_degradation_mild_words", "svc", True, {
        "chat": [
            ("{mild} {big_pct}% of users can't load {svc} at all for the past {dur} minutes.",
             "{big_pct}% of users have been unable to load {svc} for {dur} minutes."),
            ("{open} quick note from {person}: {svc} has been a bit slow, about {big_pct}% of sessions hit "
             "timeouts and can't finish.",
             "About {big_pct}% of sessions on {svc} hit timeouts and cannot finish."),
        ],
        "email": [
            ("{open} {mild} {svc} is a touch sluggish today: {big_pct}% of page loads give up after {lat}s.",
             "{big_pct}% of page loads on {svc} give up after {lat}s."),
        ],
        "postmortem": [
            ("{open} filed as 'a bit flaky', the issue actually kept {big_pct}% of customers out of {svc} "
             "for {dur} minutes.",
             "The issue kept {big_pct}% of customers out of {svc} for {dur} minutes."),
        ],
        "handover": [
            ("{open} {mild} {svc} felt a little slow all evening, which in numbers is {big_pct}% of checkouts failing "
             "after {lat}s of waiting.",
             "{big_pct}% of checkouts on {svc} fail after {lat}s."),
        ],
    }),
    ("key_feature_down", "svc", False, {
        "email": [
            ("{open} {key_feature} is broken on {svc} {everyone} since {time}; the rest of the product works.",
             "{key_feature} has been broken on {svc} for all users since {time}."),
        ],
        "ticket": [
            ("{open} {key_feature} via {svc} fails for every user in {region}, {no_workaround}.",
             "{key_feature} via {svc} fails for every user in {region}."),
        ],
        "pager": [
            ("{open} {svc}: {key_feature} endpoint returning {err} for {dur} minutes, other endpoints healthy.",
             "The {key_feature} endpoint of {svc} has returned {err} for {dur} minutes."),
            ("{open} {svc}: synthetic journey for {key_feature} red in every region since {time}; all other journeys "
             "pass.",
             "The synthetic journey for {key_feature} on {svc} has failed in every region since {time}.", "dev"),
        ],
        "status": [
            ("{open} {key_feature} is currently unavailable. Browsing still works; {svc} engineers are on it.",
             "{key_feature} is unavailable because of a problem in {svc}."),
        ],
        "postmortem": [
            ("{open} a feature flag flipped at {time} disabled {key_feature} in {svc} for all accounts, while "
             "the remaining flows stayed up.",
             "A feature flag flipped at {time} disabled {key_feature} in {svc} for all accounts."),
        ],
        "handover": [
            ("{open} {key_feature} on {svc} has been broken since {time} for every account while the rest of the site "
             "is up; {no_workaround}.",
             "{key_feature} on {svc} has been broken for every account since {time}."),
        ],
    }),
    ("codes_undelivered", "svc", False, {
        "pager": [
            ("{open} {svc}: {channel} delivery of verification codes failing for {big_pct}% of sends since {time}.",
             "{svc} has failed to deliver {big_pct}% of {channel} verification codes since {time}."),
        ],
        "ticket": [
            ("{open} Users waiting for password-reset codes from {svc} never get them ({big_pct}% of attempts); "
             "{no_workaround}.",
             "{big_pct}% of password-reset codes from {svc} are never delivered."),
            ("{open} {big_pct}% of the {channel} codes {svc} sends for two-step sign-in never arrive, {no_workaround}.",
             "{big_pct}% of the {channel} codes {svc} sends for two-step sign-in never arrive.", "dev"),
        ],
        "chat": [
            ("{open} {svc} is dropping {big_pct}% of the {channel} one-time codes, so those people can't "
             "finish signing in",
             "{svc} is dropping {big_pct}% of {channel} one-time codes, so those users cannot finish signing in."),
        ],
        "postmortem": [
            ("{open} the upstream SMS vendor throttled us and {svc} lost {big_pct}% of outgoing login codes "
             "for {dur} minutes.",
             "{svc} lost {big_pct}% of outgoing login codes for {dur} minutes."),
        ],
        "handover": [
            ("{open} carried over from my shift: {svc} is still losing {big_pct}% of its {channel} sign-in codes, so "
             "a big chunk of people cannot log in.",
             "{svc} is losing {big_pct}% of its {channel} sign-in codes."),
        ],
    }),
    ("capacity_shedding", "svc", False, {
        "pager": [
            ("{open} {svc} load shedding active in {region}: {big_pct}% of requests rejected with {err}.",
             "{svc} is rejecting {big_pct}% of requests in {region} with {err}."),
        ],
        "email": [
            ("{open} after losing half its nodes at {time}, {svc} is turning away {big_pct}% of traffic. "
             "Capacity will take hours to restore.",
             "{svc} has turned away {big_pct}% of traffic since losing half its nodes at {time}."),
        ],
        "status": [
            ("{open} Many customers are seeing errors when using {svc}. We are adding capacity.",
             "Many customers are seeing errors on {svc}."),
        ],
        "postmortem": [
            ("{open} autoscaling hit its ceiling, and {svc} refused {big_pct}% of calls until the limit was "
             "raised {dur} minutes later.",
             "{svc} refused {big_pct}% of calls for {dur} minutes after autoscaling hit its ceiling."),
        ],
        "handover": [
            ("{open} {svc} in {region} is still shedding {big_pct}% of requests with {err} after the node loss at "
             "{time}; more capacity is on order.",
             "{svc} in {region} is shedding {big_pct}% of requests with {err} after the node loss at {time}."),
        ],
    }),
    ("region_outage_calm", "svc", True, {
        "chat": [
            ("{open} not a big deal I think, but {svc} has been unreachable {only_in} {region} for {dur} minutes",
             "{svc} has been unreachable in {region} for {dur} minutes."),
        ],
        "email": [
            ("{open} {mild} customers in {region} have been getting {err} from {svc} since {time}.",
             "Customers in {region} have been getting {err} from {svc} since {time}."),
        ],
        "ticket": [
            ("{open} FYI only: {region} traffic to {svc} fails completely; {others_ok}.",
             "Traffic to {svc} in {region} fails completely."),
        ],
        "postmortem": [
            ("{open} nobody escalated because the channel called it 'a regional wobble', but {svc} served no one in "
             "{region} for {dur} minutes.",
             "{svc} served no one in {region} for {dur} minutes."),
        ],
        "handover": [
            ("{open} {mild} {svc} stopped serving {region} at {time} and had not come back when I left.",
             "{svc} stopped serving {region} at {time}."),
        ],
    }),
    ("outage_words_partial", "svc", True, {
        "pager": [
            ("{open} TOTAL OUTAGE {svc}!!! {err} on {big_pct}% of requests, the rest succeed.",
             "{svc} returns {err} on {big_pct}% of requests."),
        ],
        "chat": [
            ("{alarm} {svc} is melting down, {big_pct}% of users get {err}, {no_workaround}",
             "{big_pct}% of {svc} users get {err}."),
        ],
        "email": [
            ("{open} DISASTER on {svc}: {key_feature} has failed for every user since {time}, everything "
             "else is fine.",
             "{key_feature} on {svc} has failed for every user since {time}."),
        ],
        "postmortem": [
            ("{open} the war room was opened as if the site were gone, though {svc} still served "
             "{big_pct}% fewer successful requests than normal, not zero.",
             "{svc} served {big_pct}% fewer successful requests than normal."),
        ],
        "handover": [
            ("{open} {alarm} {svc} IS DOWN DOWN DOWN, well, {big_pct}% of requests get {err} and the others are "
             "served fine.",
             "{big_pct}% of requests to {svc} get {err}."),
        ],
    }),
    # ---- held out: only in the unseen split
    ("platform_outage", "svc", False, {
        "ticket": [
            ("{open} Every user of the {platform} gets {err} from {svc} since {time}; the other clients work.",
             "Every {platform} user has got {err} from {svc} since {time}."),
        ],
        "chat": [
            ("{open} the {platform} can't talk to {svc} anymore after today's release, roughly {big_pct}% of our "
             "traffic",
             "The {platform} cannot reach {svc} after the release, roughly {big_pct}% of traffic."),
        ],
        "status": [
            ("{open} Customers using our {platform} are unable to load their feeds from {svc}. Other apps are not "
             "affected.",
             "Customers using the {platform} are unable to load their feeds from {svc}."),
        ],
        "postmortem": [
            ("{open} a certificate pinned in the {platform} stopped matching {svc} at {time}, stranding that "
             "whole client population for {dur} minutes.",
             "The {platform} could not reach {svc} for {dur} minutes after a pinned certificate mismatch at "
             "{time}."),
        ],
    }),
    ("region_outage_alarming_words", "svc", True, {
        "pager": [
            ("{alarm} EVERYTHING IS DOWN - {svc} dead in {region}!! ({others_ok})",
             "{svc} is down in {region}."),
        ],
        "email": [
            ("{open} {alarm} {svc} is a catastrophe right now: nobody in {region} can check out, {others_ok}.",
             "Nobody in {region} can check out on {svc}."),
        ],
        "chat": [
            ("{open} worst outage ever??? {svc} throws {err} at every request {only_in} {region}",
             "{svc} throws {err} at every request in {region}."),
        ],
        "postmortem": [
            ("{open} the announcement said the whole platform had collapsed; in fact {svc} was unreachable only "
             "from {region} for {dur} minutes.",
             "{svc} was unreachable from {region} for {dur} minutes."),
        ],
    }),
    # ---- held out: only in the dev_unseen split
    ("carrier_unreachable", "svc", False, {
        "ticket": [
            ("{open} Customers on one of the largest mobile carriers, about {big_pct}% of our mobile users, cannot "
             "reach {svc} since {time}; {no_workaround}.",
             "Customers on one large mobile carrier, about {big_pct}% of mobile users, cannot reach {svc} since "
             "{time}."),
        ],
        "pager": [
            ("{open} {svc}: connections from a major carrier's network failing since {time}, {big_pct}% of mobile "
             "sessions dropped.",
             "{svc} has dropped {big_pct}% of mobile sessions from a major carrier's network since {time}."),
        ],
        "status": [
            ("{open} Customers using some mobile networks cannot connect to {svc}. Customers on Wi-Fi or other "
             "networks are not affected.",
             "Customers on some mobile networks cannot connect to {svc}."),
        ],
        "handover": [
            ("{open} still open: a routing change at a big mobile carrier cut {big_pct}% of our mobile users off from "
             "{svc} at {time}, and the carrier has not answered yet.",
             "A routing change at a mobile carrier cut {big_pct}% of mobile users off from {svc} at {time}."),
        ],
    }),
    ("one_shard_down", "data_svc", True, {
        "chat": [
            ("{open} only one shard of {data_svc} is offline, but it is the one holding {big_pct}% of customer "
             "{what}, and those customers get {err}",
             "One shard of {data_svc} holding {big_pct}% of customer {what} is offline, and those customers get "
             "{err}."),
        ],
        "pager": [
            ("{open} {data_svc} shard 3 of 4 unreachable since {time}: just a single node, {big_pct}% of account "
             "lookups failing.",
             "Shard 3 of {data_svc} has been unreachable since {time}, with {big_pct}% of account lookups failing."),
        ],
        "email": [
            ("{open} {mild} one small partition of {data_svc} went read-only at {time}; the {big_pct}% of customers "
             "whose {what} live there cannot save anything.",
             "One partition of {data_svc} went read-only at {time}, so {big_pct}% of customers cannot save their "
             "{what}."),
        ],
        "handover": [
            ("{open} minor-looking thing I could not close: one replica set of {data_svc} is down, and for the "
             "{big_pct}% of customers mapped to it every request returns {err}.",
             "One replica set of {data_svc} is down, and {big_pct}% of customers get {err} on every request."),
        ],
    }),
]
