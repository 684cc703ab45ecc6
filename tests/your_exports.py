"""Exports shaped as other people's tools write them, for the "your own data" tests.

Written here, apart from the sample-data generator and from the catalog: a survey tool's wide
export (semicolon-separated, a BOM, ``04.03.2025 02:41`` timestamps, one column per question),
reviews as JSON Lines without a stage, and order events with their own event names and the
customer's segment repeated on every row. Two quarters in one file each (the period is cut by
the reader). In 2025Q2 the share of late-parcel complaints triples (the planted change).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

QUARTERS = {"2025Q1": datetime(2025, 1, 1), "2025Q2": datetime(2025, 4, 1)}

LATE = ["My parcel turned up nine days after the date they promised.",
        "Still waiting, the delivery is over a week late and nobody answers.",
        "The courier was late again, two weeks for a small box.",
        "Delivery took forever, way past the estimated date.",
        "Package arrived late and the tracking said delivered days before."]
FINE = ["Quick checkout, the dress fits well.", "Good value for money, would buy again.",
        "Arrived on time and well packed.", "Nice quality, colour as in the photos.",
        "Easy to order from the app.", "Everything as described, thanks."]
MIXED = ["Product is fine but the box was a bit dented.", "Okay overall, sizes run a little small.",
         "Support answered after a day, problem solved."]
COMMENTS_LATE = ["Delivery was very late.", "parcel came a week after the promised day", "Late delivery, again."]
COMMENTS_FINE = ["All good", "Fast and friendly", "Nothing to add", "Great service"]


def write_exports(folder: Path, seed: int = 11, customers: int = 600) -> dict[str, Path]:
    """Write surveys.csv, reviews.jsonl and orders.csv for 2025Q1-2025Q2 into ``folder``."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    ids = [f"CL-{n:05d}" for n in range(1, customers + 1)]
    segment = {c: ("Business" if rng.random() < 0.3 else "Private") for c in ids}
    orders, surveys, reviews = [], [], []
    event_no = 0
    for quarter, start in QUARTERS.items():
        late_share = 0.08 if quarter == "2025Q1" else 0.3
        for c in ids:
            if rng.random() < 0.2:
                continue  # not active this quarter
            t = start + timedelta(days=float(rng.uniform(0, 80)), minutes=int(rng.integers(0, 1440)))
            steps = ["home_visit", "item_view"]
            if rng.random() < 0.75:
                steps.append("basket_add")
                if rng.random() < 0.8:
                    steps += ["pay_start", "purchase_done"]
                    steps.append("parcel_received")
                    if rng.random() < late_share:
                        steps.append("parcel_late")
                    if rng.random() < 0.06:
                        steps.append("item_returned")
                    if rng.random() < 0.2:
                        steps.append("purchase_again")
            value = round(float(rng.gamma(2.0, 60.0 if segment[c] == "Private" else 180.0)), 2)
            for k, step in enumerate(steps):
                event_no += 1
                when = t + timedelta(hours=6 * k)
                amount = value if step in ("purchase_done", "purchase_again") else ""
                orders.append([f"E{event_no:07d}", c, when.strftime("%Y-%m-%d %H:%M:%S"), step, segment[c], amount,
                               "app" if rng.random() < 0.55 else "web"])
            late = "parcel_late" in steps
            if "purchase_done" in steps and rng.random() < 0.55:
                when = t + timedelta(days=3, minutes=int(rng.integers(0, 600)))
                speed = int(rng.integers(1, 3)) if late else int(rng.integers(3, 6))
                comment = (COMMENTS_LATE[int(rng.integers(len(COMMENTS_LATE)))] if late and rng.random() < 0.7
                           else COMMENTS_FINE[int(rng.integers(len(COMMENTS_FINE)))] if rng.random() < 0.4 else "")
                surveys.append([f"R{len(surveys) + 1:06d}", c, when.strftime("%d.%m.%Y %H:%M"), speed, int(rng.integers(3, 6)),
                                int(rng.integers(0, 7 if late else 11)), comment])
            if "purchase_done" in steps and rng.random() < 0.6:
                when = t + timedelta(days=5, hours=int(rng.integers(0, 48)))
                if late and rng.random() < 0.85:
                    body, stars = LATE[int(rng.integers(len(LATE)))], int(rng.integers(1, 3))
                elif rng.random() < 0.2:
                    body, stars = MIXED[int(rng.integers(len(MIXED)))], 3
                else:
                    body, stars = FINE[int(rng.integers(len(FINE)))], int(rng.integers(4, 6))
                reviews.append({"rid": f"rv{len(reviews) + 1:06d}", "user": c, "created": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                "stars": stars, "body": body})
    paths = {"surveys": folder / "surveys.csv", "reviews": folder / "reviews.jsonl", "sales": folder / "orders.csv"}
    header = ["Response", "Customer", "Submitted", "Delivery speed (1-5)", "Support helpfulness (1-5)",
              "How likely to recommend us (0-10)", "Comments"]
    lines = [";".join(header)] + [";".join(str(v) for v in row) for row in surveys]
    paths["surveys"].write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8"))
    paths["reviews"].write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in reviews), encoding="utf-8")
    order_lines = ["evt,cust,when,what,segment,value,via"] + [",".join(str(v) for v in row) for row in orders]
    paths["sales"].write_text("\n".join(order_lines) + "\n", encoding="utf-8")
    return paths
