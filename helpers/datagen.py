"""Deterministic generator of the incident-triage data in `data/` (run: `python -m helpers.datagen`).

Reports are built from scenario templates with gold labels attached, so the labels are right by
construction and the files reproduce byte for byte from the seed. Every scenario's summary template uses
only slot values that its report contains, so a gold summary is faithful to its report.
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from pathlib import Path

from helpers import checks
from helpers.task import DATA_DIR, SEVERITIES, SPLITS, validate_example

SEED = 20261127
SPLIT_SIZES = {"sft": 500, "prefs": 680, "eval": 140}

CUSTOMER_SERVICES = [
    "checkout-api", "payments-gateway", "auth-service", "search-api", "mobile-api", "web-frontend",
    "order-service", "cart-service", "user-profile-service", "notification-service", "inventory-service",
    "recommendation-engine", "shipping-tracker", "media-cdn", "account-db", "billing-service",
    "subscription-service", "video-streamer", "chat-service", "booking-api",
]
DATA_SERVICES = ["order-service", "account-db", "billing-service", "user-profile-service", "booking-api",
                 "subscription-service", "inventory-service"]
PAYMENT_SERVICES = ["payments-gateway", "checkout-api", "billing-service", "subscription-service"]
INTERNAL_SERVICES = ["ci-runners", "admin-dashboard", "metrics-pipeline", "log-shipper", "internal-wiki",
                     "deploy-bot", "hr-portal", "build-cache", "feature-flag-console", "vpn-gateway"]
BATCH_SERVICES = ["data-warehouse-etl", "report-generator", "db-backup", "invoice-batch", "search-indexer",
                  "email-digest", "sitemap-builder", "analytics-export"]
REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1", "ap-northeast-1",
           "sa-east-1", "ca-central-1"]
ERRORS = ["HTTP 500", "HTTP 502", "HTTP 503", "HTTP 504", "connection timeouts", "connection refused errors"]
RECORDS = ["orders", "accounts", "invoices", "profiles", "bookings", "subscriptions", "payment records"]
CAUSES = ["a schema migration", "the nightly cleanup job", "a bad deploy", "a manual SQL fix",
          "a replication failover", "a config push"]
EXPOSED = ["other customers' email addresses", "other users' billing addresses", "other customers' order history",
           "other users' phone numbers", "other customers' names and saved cards' last four digits"]
KEY_FEATURES = ["login", "search", "order placement", "adding items to the cart", "password reset",
                "account sign-up", "order tracking"]
MINOR_FEATURES = ["avatar uploads", "the wishlist", "CSV export of order history", "review photo uploads",
                  "the dark-mode toggle", "gift-message editing", "the referral banner", "saved-search alerts"]
COSMETIC = ["a typo ('recieve') on the pricing page", "a misaligned logo in the footer",
            "the wrong font on the settings page", "a broken tooltip on the profile page",
            "an outdated copyright year in the footer", "a truncated button label on the help page"]
ENVIRONMENTS = ["staging", "the dev environment", "the QA cluster", "the load-test environment"]
PEOPLE = ["Priya", "Marco", "Dana", "Kenji", "Olu", "Sofia", "Lena", "Tomasz", "Aisha", "Ruben"]


def _time(rng: random.Random) -> str:
    return f"{rng.randrange(24):02d}:{rng.choice(range(0, 60, 5)):02d} UTC"


def _slots(rng: random.Random) -> dict:
    """Random slot values; each template uses the ones it needs."""
    return {
        "svc": rng.choice(CUSTOMER_SERVICES), "data_svc": rng.choice(DATA_SERVICES),
        "pay_svc": rng.choice(PAYMENT_SERVICES), "int_svc": rng.choice(INTERNAL_SERVICES),
        "batch_svc": rng.choice(BATCH_SERVICES), "region": rng.choice(REGIONS), "err": rng.choice(ERRORS),
        "dur": rng.choice([5, 8, 10, 12, 15, 20, 25, 30, 40, 45, 50, 60, 75, 90]),
        "time": _time(rng), "tk": rng.randrange(1000, 99999), "person": rng.choice(PEOPLE),
        "n": rng.choice([37, 120, 250, 480, 900, 1300, 2400, 5100, 12000, 48000]),
        "what": rng.choice(RECORDS), "cause": rng.choice(CAUSES), "exposed": rng.choice(EXPOSED),
        "pay_pct": rng.choice([60, 65, 70, 75, 80, 85, 90, 95, 100]),
        "big_pct": rng.choice([20, 25, 30, 35, 40, 45, 50]),
        "small_pct": rng.choice([0.5, 1, 1.5, 2, 2.5, 3, 4]),
        "lat": rng.choice([4, 6, 8, 9, 12, 15, 20, 30]),
        "key_feature": rng.choice(KEY_FEATURES), "minor_feature": rng.choice(MINOR_FEATURES),
        "cosmetic": rng.choice(COSMETIC), "env": rng.choice(ENVIRONMENTS),
        "retry_min": rng.choice([3, 5, 10, 15, 20, 30]), "disk": rng.choice([71, 72, 75, 78, 81]),
        "flaps": rng.choice([3, 4, 6, 9, 14, 22]),
    }


# (severity, component slot, scenario, hard case?, [(report template, summary template), ...])
SCENARIOS = [
    ("SEV1", "svc", "full_outage", False, [
        ("[ALERT] {svc} down: 100% of requests return {err} for the last {dur} minutes in all regions.",
         "{svc} has been down in all regions for {dur} minutes, returning {err} on every request."),
        ("hey, {svc} is completely down for everyone, every request gets {err} since {dur} min ago. "
         "customers can't use it at all",
         "{svc} has been completely down for all customers for {dur} minutes, returning {err}."),
        ("Ticket #{tk}: Customers report that {svc} has been unavailable for {dur} minutes. "
         "All requests fail with {err} in every region.",
         "{svc} has been unavailable in every region for {dur} minutes, with all requests failing with {err}."),
        ("Hi team, {svc} stopped responding at {time} and now returns {err} to all users. "
         "Support is getting flooded with complaints.",
         "{svc} has returned {err} to all users since {time}."),
    ]),
    ("SEV1", "data_svc", "data_loss", False, [
        ("Incident: {cause} on {data_svc} deleted {n} customer {what}; no backup of those rows has been found yet.",
         "{cause} on {data_svc} deleted {n} customer {what} with no backup found yet."),
        ("[DATA] {data_svc}: {cause} overwrote {n} customer {what} with empty values at {time}.",
         "{cause} on {data_svc} overwrote {n} customer {what} with empty values at {time}."),
    ]),
    ("SEV1", "data_svc", "data_loss_mild_words", True, [
        ("Small heads-up, probably nothing big: after {cause} on {data_svc}, {n} customer {what} seem to be "
         "gone from the database.",
         "{n} customer {what} appear to be missing from {data_svc} after {cause}."),
        ("fyi {person} noticed {n} customer {what} in {data_svc} now have scrambled totals since {cause}, "
         "no rush",
         "{n} customer {what} in {data_svc} have scrambled totals since {cause}."),
    ]),
    ("SEV1", "svc", "data_exposure", False, [
        ("SECURITY: {svc} is showing {exposed} to logged-in users since the {time} deploy.",
         "{svc} has been showing {exposed} to logged-in users since the {time} deploy."),
        ("Odd one: a customer emailed that {svc} shows them {exposed}. Two more customers confirmed it.",
         "Three customers report that {svc} shows them {exposed}."),
    ]),
    ("SEV1", "pay_svc", "payments_failing", False, [
        ("[ALERT] {pay_svc}: {pay_pct}% of card payments failing for {dur} minutes across all regions.",
         "{pay_pct}% of card payments on {pay_svc} have been failing across all regions for {dur} minutes."),
        ("Checkout is broken: {pay_svc} declines {pay_pct}% of payments since {time}, customers can't pay.",
         "{pay_svc} has declined {pay_pct}% of payments since {time}."),
    ]),
    ("SEV2", "svc", "region_outage", False, [
        ("[ALERT] {svc} unavailable in {region}: all requests return {err} for {dur} minutes. "
         "Other regions are healthy.",
         "{svc} has been unavailable in {region} for {dur} minutes with {err}, while other regions are healthy."),
        ("hey, {svc} is down in {region} only, users there get {err}. everyone else is fine",
         "{svc} is down in {region}, where users get {err}."),
        ("Ticket #{tk}: Since {time}, customers in {region} cannot reach {svc} ({err}). "
         "No failover is configured for that region.",
         "Customers in {region} have been unable to reach {svc} since {time} because of {err}."),
    ]),
    ("SEV2", "svc", "major_degradation", False, [
        ("{svc} p99 latency is {lat}s and {big_pct}% of requests time out. No workaround for affected users.",
         "{svc} has a p99 latency of {lat}s and {big_pct}% of its requests time out."),
        ("[WARN] {svc} error rate at {big_pct}% for {dur} minutes, retries fail too.",
         "{svc} has had a {big_pct}% error rate for {dur} minutes."),
    ]),
    ("SEV2", "svc", "major_degradation_mild_words", True, [
        ("Not urgent maybe, but {big_pct}% of users can't load {svc} at all for the past {dur} minutes.",
         "{big_pct}% of users have been unable to load {svc} for {dur} minutes."),
        ("Quick note from {person}: {svc} has been a bit slow, about {big_pct}% of sessions hit timeouts "
         "and can't finish.",
         "About {big_pct}% of sessions on {svc} hit timeouts and cannot finish."),
    ]),
    ("SEV2", "svc", "key_feature_down", False, [
        ("{key_feature} is broken on {svc} for all users since {time}; the rest of the product works.",
         "{key_feature} has been broken on {svc} for all users since {time}."),
        ("Ticket #{tk}: {key_feature} via {svc} fails for every user in {region}, no workaround known.",
         "{key_feature} via {svc} fails for every user in {region}."),
    ]),
    ("SEV3", "svc", "small_share_errors", False, [
        ("[WARN] {svc} error rate {small_pct}% for {dur} minutes; client retries succeed.",
         "{svc} has had a {small_pct}% error rate for {dur} minutes, and retries succeed."),
        ("Ticket #{tk}: about {small_pct}% of requests to {svc} fail with {err}; a page refresh fixes it.",
         "About {small_pct}% of requests to {svc} fail with {err}, and a refresh fixes it."),
    ]),
    ("SEV3", "svc", "small_share_alarming_words", True, [
        ("URGENT!!! {svc} is throwing errors!! about {small_pct}% of requests fail, a refresh fixes it",
         "About {small_pct}% of requests to {svc} fail, and a refresh fixes it."),
        ("EMERGENCY - {svc} returning {err} to customers in {region}! (only {small_pct}% of calls, "
         "retry works)",
         "{svc} returns {err} on {small_pct}% of calls in {region}, and a retry works."),
    ]),
    ("SEV3", "svc", "minor_feature", False, [
        ("{minor_feature} on {svc} has been failing since {time}; everything else works.",
         "{minor_feature} on {svc} has been failing since {time}."),
        ("hi, {person} here - {minor_feature} in {svc} gives {err} for some users, they can still do "
         "everything else",
         "{minor_feature} in {svc} gives {err} for some users."),
    ]),
    ("SEV3", "int_svc", "internal_outage", True, [
        ("CRITICAL: {int_svc} is completely down, nobody on the engineering team can use it for {dur} minutes.",
         "{int_svc} has been down for the engineering team for {dur} minutes."),
        ("{int_svc} (internal) unavailable for employees since {time}; customers unaffected.",
         "The internal {int_svc} has been unavailable for employees since {time}."),
        ("[ALERT] {int_svc} returning {err} since {time}. Internal tool only.",
         "The internal tool {int_svc} has returned {err} since {time}."),
    ]),
    ("SEV4", "svc", "cosmetic", False, [
        ("Minor: {cosmetic} of {svc}.", "{svc} has {cosmetic}."),
        ("Ticket #{tk}: customer points out {cosmetic} of {svc}. No functional problem.",
         "A customer reported {cosmetic} of {svc}."),
    ]),
    ("SEV4", "svc", "non_production", True, [
        ("CRITICAL!!! {svc} in {env} is completely down, all requests return {err}.",
         "{svc} in {env} is down and returns {err}."),
        ("{svc} in {env} fails to start after the {time} deploy. Production is unaffected.",
         "{svc} in {env} fails to start after the {time} deploy."),
    ]),
    ("SEV4", "batch_svc", "recovered_job", True, [
        ("Nightly {batch_svc} job failed at {time} and succeeded on automatic retry {retry_min} minutes later; "
         "no data missing.",
         "The nightly {batch_svc} job failed at {time} and succeeded on automatic retry {retry_min} minutes later."),
        ("FAILED: {batch_svc} run crashed at {time}! It re-ran by itself {retry_min} min later and finished, "
         "all rows accounted for.",
         "The {batch_svc} run crashed at {time} and finished when it re-ran by itself {retry_min} minutes later."),
    ]),
    ("SEV4", "svc", "noisy_alert", False, [
        ("[ALERT] {svc} disk usage {disk}% on one host (threshold 70%); no errors, no user impact.",
         "A {svc} host reached {disk}% disk usage against a 70% threshold with no errors."),
        ("Flapping health-check alert on {svc} fired {flaps} times overnight; the service answered normally "
         "throughout.",
         "The {svc} health-check alert fired {flaps} times overnight while the service answered normally."),
    ]),
]


SERVICE_SLOTS = ("{svc}", "{data_svc}", "{pay_svc}", "{int_svc}", "{batch_svc}")


def _sentence(template: str, slots: dict) -> str:
    """Fill a summary template; capitalise its first letter unless it starts with a service name."""
    text = template.format(**slots)
    return text if template.startswith(SERVICE_SLOTS) else text[:1].upper() + text[1:]


def make_example(rng: random.Random, severity: str) -> dict:
    """One labelled report of the given severity."""
    candidates = [s for s in SCENARIOS if s[0] == severity]
    _, comp_slot, scenario, hard, templates = rng.choice(candidates)
    report_tmpl, summary_tmpl = rng.choice(templates)
    slots = _slots(rng)
    return {
        "report": report_tmpl.format(**slots),
        "severity": severity,
        "component": slots[comp_slot],
        "summary": _sentence(summary_tmpl, slots),
        "scenario": scenario,
        "hard_case": hard,
    }


def generate(seed: int = SEED, sizes: dict | None = None) -> dict[str, list[dict]]:
    """All splits, as lists of examples. Reports are distinct across the whole dataset."""
    checks.integer("seed", seed)
    sizes = SPLIT_SIZES if sizes is None else sizes
    if not isinstance(sizes, dict) or not sizes:
        raise checks.ParameterError(f"sizes must be a non-empty dict of split name -> size, got {checks.show(sizes)}")
    for name, size in sizes.items():
        if name not in SPLITS:
            raise checks.ParameterError(f"sizes names an unknown split {name!r}; the splits are {', '.join(SPLITS)}")
        checks.count(f"sizes[{name!r}]", size)
    rng = random.Random(seed)
    total = sum(sizes.values())
    seen: set[str] = set()
    examples: list[dict] = []
    attempts = 0
    while len(examples) < total:
        attempts += 1
        if attempts > total * 50:
            raise RuntimeError("templates too narrow to produce enough distinct reports")
        severity = SEVERITIES[len(examples) % len(SEVERITIES)]  # balanced classes
        ex = make_example(rng, severity)
        if ex["report"] in seen:
            continue
        seen.add(ex["report"])
        examples.append(ex)
    rng.shuffle(examples)
    splits, start = {}, 0
    for name, size in sizes.items():
        rows = examples[start:start + size]
        start += size
        splits[name] = [{"id": f"{name}-{i:04d}", **row} for i, row in enumerate(rows)]
    return splits


def write(out_dir: Path = DATA_DIR, seed: int = SEED) -> dict[str, Path]:
    """Write data/<split>.jsonl; returns the paths. Same seed, same bytes."""
    checks.integer("seed", seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, rows in generate(seed).items():
        for i, row in enumerate(rows):
            validate_example(row, f"{name}[{i}]")
        path = out_dir / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows),
                        encoding="utf-8")
        paths[name] = path
    return paths


def describe(splits: dict[str, list[dict]]) -> str:
    lines = []
    for name, rows in splits.items():
        counts = Counter(r["severity"] for r in rows)
        hard = sum(r["hard_case"] for r in rows)
        lines.append(f"{name}: {len(rows)} reports, " + ", ".join(f"{s} {counts[s]}" for s in SEVERITIES)
                     + f", hard cases {hard}")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=DATA_DIR)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    paths = write(args.out, args.seed)
    print(describe(generate(args.seed)))
    print("wrote", ", ".join(str(p) for p in paths.values()))


if __name__ == "__main__":
    main()
