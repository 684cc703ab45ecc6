"""`cjm init`: real export files in a temporary folder, the written configuration read back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cjm_tasks.config import load_config
from cjm_tasks.errors import CjmError
from cjm_tasks.ingest.scaffold import InitResult, init_project
from cjm_tasks.ingest.scaffold.columns import profile
from cjm_tasks.ingest.scaffold.samples import sniff_dialect, sniff_encoding

WRITTEN = ["cjm.yaml", "stages.yaml", "personas.yaml", "expectations.yaml", "barriers.yaml", "barrier_examples.yaml"]
COMPLAINTS = ["The courier was {n} hours late", "Курьер опоздал на {n} часа", "Package arrived damaged, box {n} crushed",
              "Support answered after {n} days", "Great service, thanks number {n}"]


def read(out: Path, name: str) -> dict:
    return yaml.safe_load((out / name).read_text(encoding="utf-8"))


def todo_lines(out: Path) -> list[str]:
    return [line for name in WRITTEN[:5] for line in (out / name).read_text(encoding="utf-8").splitlines() if "# TODO:" in line]


def init_checked(tmp_path: Path, **files: Path) -> tuple[InitResult, Path]:
    """``init_project`` of ``files`` into ``tmp_path / "cfg"``, checked: every file written and valid
    YAML; one TODO comment per TODO; the configuration loads."""
    out = tmp_path / "cfg"
    result = init_project(**files, out=out)
    assert sorted(p.name for p in result.files) == sorted(WRITTEN)
    for name in WRITTEN:
        assert isinstance(read(out, name), dict)
    assert len(todo_lines(out)) == len(result.todos)
    load_config(out / "cjm.yaml")
    return result, out


def write_wide_survey(path: Path, rows: int = 300) -> None:
    """A survey tool's wide export: semicolons, a BOM, day-first timestamps, a column per question."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["ИД;Клиент;Дата;Q1 Доставка;Q2 Recommend us;Effort checkout;Комментарий;Сегмент"]
    for i in range(rows):
        day, month = 1 + i % 28, 1 + i % 3
        comment = COMPLAINTS[i % 5].format(n=i)
        lines.append(f"R{i};C{i % 120};{day:02d}.{month:02d}.2025 {i % 24:02d}:{i % 60:02d};{1 + i % 5};{i % 11};{1 + i % 7};"
                     f"{comment};{'Private' if (i % 120) % 3 else 'Business'}")
    path.write_bytes(("\ufeff" + "\n".join(lines) + "\n").encode("utf-8"))


def test_wide_semicolon_survey_with_bom_and_day_first_timestamps(tmp_path: Path):
    survey = tmp_path / "exports" / "survey_2025Q1.csv"
    write_wide_survey(survey)
    result, out = init_checked(tmp_path, surveys=survey)

    source = read(out, "cjm.yaml")["sources"]["surveys"]
    assert source["location"] == "../exports/survey_{period}.csv"
    assert source["format"] == "csv"
    assert source["csv"] == {"delimiter": ";", "quotechar": '"', "encoding": "utf-8-sig"}
    assert source["timestamp_format"] == "%d.%m.%Y %H:%M"
    assert source["period_rows"] == "require"
    assert source["columns"] == {"Дата": "answered_at", "ИД": "response_id", "Клиент": "customer_id", "Комментарий": "comment",
                                 "Сегмент": "segment"}
    assert source["melt"] == {"variable": "question", "value": "score",
                              "columns": {"Q1 Доставка": "q1_dostavka", "Q2 Recommend us": "q2_recommend_us", "Effort checkout": "q_effort_checkout"}}
    assert source["attributes"] == ["segment"]
    text = (out / "cjm.yaml").read_text(encoding="utf-8")
    assert "# 100% of 300 values parse as %d.%m.%Y %H:%M" in text
    assert "the file starts with a UTF-8 byte-order mark" in text

    stages = {s["id"]: s for s in read(out, "stages.yaml")["stages"]}
    assert stages["purchase"]["questions"] == {"q1_dostavka": "csat", "q_effort_checkout": "ces"}
    assert stages["loyalty"]["questions"] == {"q2_recommend_us": "nps"}
    assert [s for s in stages] == ["awareness", "evaluation", "purchase", "experience", "loyalty", "reminder"]
    assert "rates" not in stages["purchase"]  # no sales: no rate can be computed

    personas = read(out, "personas.yaml")
    assert [p["rule"] for p in personas["personas"]] == [{"field": "segment", "op": "eq", "value": "Private"},
                                                         {"field": "segment", "op": "eq", "value": "Business"}]
    assert read(out, "expectations.yaml")["surveys"]["min_rows"] == 30  # a tenth of 300 responses
    assert list(read(out, "expectations.yaml")) == ["surveys"]
    assert result.first_period == "2025Q1" and not result.todos


def test_long_survey_with_epoch_seconds_and_a_free_text_item(tmp_path: Path):
    path = tmp_path / "answers.csv"
    lines = ["resp_id,customer,submitted,item,answer"]
    for r in range(200):
        for item, answer in (("How satisfied were you with delivery?", 1 + r % 5), ("How likely are you to recommend us?", r % 11),
                             ("Anything to improve?", f'"Call before coming, order {r} was late"'), ("Packaging", r % 4)):
            lines.append(f'{1000 + r},U{r % 80},{1735700000 + r * 40000},"{item}",{answer}')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result, out = init_checked(tmp_path, surveys=path)

    source = read(out, "cjm.yaml")["sources"]["surveys"]
    assert source["layout"] == "long"
    assert source["timestamp_format"] == "epoch_seconds"
    assert source["period_rows"] == "filter"  # no quarter in the file name
    assert source["columns"]["resp_id"] == "response_id" and source["columns"]["item"] == "question" and source["columns"]["answer"] == "score"
    assert source["values"]["question"]["Anything to improve?"] == "q_anything_to_improve"
    assert source["text_questions"] == ["q_anything_to_improve"]
    questions = {q: m for s in read(out, "stages.yaml")["stages"] for q, m in s.get("questions", {}).items()}
    assert questions == {"q_how_satisfied_were_you_with": "csat", "q_how_likely_are_you_to_recommend": "nps", "q_packaging": "scale_0_3"}
    assert "seconds since 1970" in (out / "cjm.yaml").read_text(encoding="utf-8")
    # A 0-3 item fits no usual scale, and its name places it nowhere: a TODO for each.
    assert read(out, "cjm.yaml")["metrics"]["scales"]["scale_0_3"] == [0, 3]
    assert sorted(t.key for t in result.todos) == ["metrics.scales.scale_0_3", "personas[0]", "stages[purchase].questions.q_packaging"]
    assert read(out, "expectations.yaml")["surveys"]["min_rows"] == 10  # 200 responses over two quarters
    assert result.first_period == "2025Q1"


def write_reviews(path: Path) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(150):
            fh.write(json.dumps({"author": f"user{i % 60}", "posted": f"2025-0{1 + i % 6}-1{i % 9}T10:00:00Z", "stars": 1 + i % 10,
                                 "body": COMPLAINTS[i % 5].format(n=i)}, ensure_ascii=False) + "\n")


def test_reviews_only_jsonl_with_ratings_out_of_ten_and_no_id(tmp_path: Path):
    path = tmp_path / "reviews.jsonl"
    write_reviews(path)
    result, out = init_checked(tmp_path, reviews=path)

    main = read(out, "cjm.yaml")
    assert list(main["sources"]) == ["reviews"]
    source = main["sources"]["reviews"]
    assert source["format"] == "jsonl" and "csv" not in source
    assert source["scales"] == {"rating": [1, 10]}
    assert source["row_id"] == "hash"
    assert source["columns"] == {"posted": "published_at", "body": "text", "stars": "rating", "author": ["customer_id", "customer_key"]}
    assert "review_id" not in str(source["columns"]) and "stage" not in str(source["columns"])
    assert list(read(out, "expectations.yaml")) == ["reviews"]
    assert read(out, "expectations.yaml")["reviews"]["min_rows"] == 10
    # No attribute and no sales: one persona for every customer, and a TODO saying so.
    personas = read(out, "personas.yaml")["personas"]
    assert [p["id"] for p in personas] == ["everyone"]
    assert [t.file for t in result.todos] == ["personas.yaml"]
    assert "# TODO: no categorical customer attribute" in (out / "personas.yaml").read_text(encoding="utf-8")


def test_order_events_with_their_own_names_and_a_segment_on_every_row(tmp_path: Path):
    events = ["Visited site", "Viewed product", "Put in basket", "Paid order", "Order shipped", "Refund asked", "Mystery ping", "Order cancelled"]
    path = tmp_path / "events.csv"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("uid,client,when,what,total,segment\n")
        for i in range(800):
            event = events[i % len(events)]
            amount = f"{(i % 50) * 3.5:.2f}" if event == "Paid order" else ""
            fh.write(f"E{i},K{i % 90},2025-{1 + i % 12:02d}-05 10:{i % 60:02d}:00,{event},{amount},{['retail', 'wholesale', 'vip'][(i % 90) % 3]}\n")
    result, out = init_checked(tmp_path, sales=path)

    source = read(out, "cjm.yaml")["sources"]["sales"]
    assert source["columns"] == {"when": "occurred_at", "uid": "event_id", "client": "customer_id", "what": "event_type", "total": "amount"}
    assert source["timestamp_format"] == "iso8601" and source["period_rows"] == "filter"
    assert source["constants"] == {"channel": "unknown"}
    assert source["attributes"] == ["segment"]
    stages_doc = read(out, "stages.yaml")
    stages = {s["id"]: s for s in stages_doc["stages"]}
    placed = {e: s for s, st in stages.items() for e in st.get("events", [])}
    assert placed == {"Visited site": "awareness", "Viewed product": "evaluation", "Put in basket": "evaluation", "Paid order": "purchase",
                      "Order shipped": "purchase", "Mystery ping": "purchase", "Order cancelled": "purchase", "Refund asked": "experience"}
    assert stages["purchase"]["rates"] == {"cancellation_rate": {"numerator": "Order cancelled", "denominator": "Paid order"}}
    assert stages_doc["orders"] == {"events": ["Paid order"], "value": "amount"}
    assert {"loyalty", "reminder"} <= set(stages) and "events" not in stages["loyalty"]
    assert [p["rule"]["field"] for p in read(out, "personas.yaml")["personas"]] == ["segment"] * 3
    assert read(out, "expectations.yaml")["sales"]["min_rows"] == 20  # 200 rows a quarter
    assert sorted(t.key for t in result.todos) == ["sources.sales.constants", "stages[purchase].events"]
    assert any("Mystery ping" in line for line in todo_lines(out))
    # The catalog copy keeps the metric rules whose rates exist and leaves out the others.
    rules = [r["id"] for r in read(out, "barriers.yaml")["metric_rules"]]
    assert "high_cancellation" in rules and "high_returns" in rules and "failed_payments" not in rules and "late_deliveries" not in rules
    assert read(out, "barrier_examples.yaml") == yaml.safe_load((Path(__file__).parents[1] / "configs" / "barrier_examples.yaml").read_text(encoding="utf-8"))


def test_windows_1251_events_with_undecidable_dates_get_a_todo(tmp_path: Path):
    path = tmp_path / "продажи.csv"
    events = ["Просмотр товара", "Заказ оформлен", "Возврат товара", "Повторный заказ"]
    lines = ["Номер;Клиент;Дата;Событие;Канал"]
    lines += [f"{i};K{i % 30};{1 + i % 12:02d}.{1 + i % 3:02d}.2025 10:00;{events[i % 4]};{['сайт', 'приложение'][i % 2]}" for i in range(120)]
    path.write_bytes(("\n".join(lines) + "\n").encode("cp1251"))
    result, out = init_checked(tmp_path, sales=path)

    source = read(out, "cjm.yaml")["sources"]["sales"]
    assert source["csv"]["encoding"] == "cp1251" and source["csv"]["delimiter"] == ";"
    assert source["timestamp_format"] == "%d.%m.%Y %H:%M"
    assert source["columns"]["Канал"] == "channel" and source["columns"]["Событие"] == "event_type"
    stages = {e: s["id"] for s in read(out, "stages.yaml")["stages"] for e in s.get("events", [])}
    assert stages == {"Просмотр товара": "evaluation", "Заказ оформлен": "purchase", "Возврат товара": "experience", "Повторный заказ": "loyalty"}
    assert read(out, "stages.yaml")["orders"]["events"] == ["Заказ оформлен", "Повторный заказ"]
    assert [t.key for t in result.todos] == ["sources.sales.timestamp_format", "personas[0]"]
    assert "no number above 12 tells day from month" in todo_lines(out)[0]
    assert read(out, "personas.yaml")["personas"][0]["rule"] == {"field": "event_count", "op": "ge", "value": 0}


def test_customer_id_told_by_the_ids_of_another_file(tmp_path: Path):
    reviews = tmp_path / "reviews.jsonl"
    write_reviews(reviews)
    sales = tmp_path / "sales.csv"
    rows = [f"S{i},user{i % 40},2025-02-{1 + i % 28:02d}T10:00:00Z,{['order_placed', 'site_visit', 'repeat_order'][i % 3]},web" for i in range(90)]
    sales.write_text("ref,who,at,event,channel\n" + "\n".join(rows) + "\n", encoding="utf-8")
    result, out = init_checked(tmp_path, reviews=reviews, sales=sales)
    assert read(out, "cjm.yaml")["sources"]["sales"]["columns"]["who"] == "customer_id"
    assert "100% of its values are customer ids of reviews" in (out / "cjm.yaml").read_text(encoding="utf-8")
    assert read(out, "stages.yaml")["orders"]["events"] == ["order_placed", "repeat_order"]


def test_xlsx_workbook(tmp_path: Path):
    pytest.importorskip("openpyxl", reason="reading and writing .xlsx needs openpyxl, which this environment lacks")
    path = tmp_path / "nps_2025Q2.xlsx"
    frame = pd.DataFrame({"Response": [f"A{i}" for i in range(60)], "Customer": [f"C{i % 20}" for i in range(60)],
                          "Submitted": pd.date_range("2025-04-02", periods=60, freq="D"), "NPS": [i % 11 for i in range(60)],
                          "Why": [COMPLAINTS[i % 5].format(n=i) for i in range(60)]})
    with pd.ExcelWriter(path) as book:
        frame.to_excel(book, sheet_name="Responses", index=False)
        frame.head(2).to_excel(book, sheet_name="Notes", index=False)
    result, out = init_checked(tmp_path, surveys=path)
    source = read(out, "cjm.yaml")["sources"]["surveys"]
    assert source["format"] == "xlsx" and source["sheet"] == "Responses"
    assert source["location"] == "../nps_{period}.xlsx" and source["columns"]["Submitted"] == "answered_at"
    assert source["melt"]["columns"] == {"NPS": "q_nps"}
    assert result.first_period == "2025Q2"


def test_refuses_a_folder_that_is_not_empty_unless_forced(tmp_path: Path):
    reviews = tmp_path / "reviews.jsonl"
    write_reviews(reviews)
    out = tmp_path / "cfg"
    out.mkdir()
    (out / "cjm.yaml").write_text("mine: true\n", encoding="utf-8")
    with pytest.raises(CjmError, match="is not empty"):
        init_project(reviews=reviews, out=out)
    assert (out / "cjm.yaml").read_text(encoding="utf-8") == "mine: true\n"
    init_project(reviews=reviews, out=out, force=True)
    assert "sources" in read(out, "cjm.yaml")
    with pytest.raises(CjmError, match="at least one of"):
        init_project(customers=reviews, out=tmp_path / "other")


def test_sniffing_encodings_delimiters_and_timestamps():
    assert sniff_encoding("Клиент;Комментарий\nИван;Курьер опоздал\n".encode("cp1251"))[0] == "cp1251"
    assert sniff_encoding("name,comment\nJosé,Não recebi\nRenée,très bien\n".encode("latin-1"))[0] == "latin-1"
    assert sniff_encoding(b"a,b\n1,2\n")[0] == "utf-8"
    assert sniff_dialect('a|b|c\n1|"x|y"|3\n4|5|6\n')[:2] == ("|", '"')
    assert sniff_dialect("a\tb\tc\n1\t2\t3\n")[0] == "\t"
    frame = pd.DataFrame({
        "month_first": ["03/14/2025 14:05", "01/02/2025 09:00", "12/31/2024 23:59"] * 10,
        "undecided": ["03.04.2025", "01.02.2025", "11.12.2024"] * 10,
        "ms": [str(1735700000000 + i * 86400000) for i in range(30)],
        "serial": [str(45700 + i * 0.3751) for i in range(30)],
        "price": [f"{25000 + i * 1234.5:.2f}" for i in range(30)],
        "am_pm": ["3/14/2025 2:05 PM", "1/2/2025 9:00 AM", "12/31/2024 11:59 PM"] * 10,
        "iso": ["2025-01-02T03:04:05+03:00", "2025-01-03 10:00:00", "2025-02-01"] * 10,
    })
    stamps = {name: col.stamp for name, col in profile(frame).items()}
    assert {name: s.format if s else None for name, s in stamps.items()} == {
        "month_first": "%m/%d/%Y %H:%M", "undecided": "%d.%m.%Y", "ms": "epoch_milliseconds", "serial": "excel", "price": None,
        "am_pm": "%m/%d/%Y %I:%M %p", "iso": "iso8601"}
    assert stamps["undecided"].undecided and not stamps["month_first"].undecided


def test_cli_prints_files_guesses_todos_and_the_next_command(tmp_path: Path):
    reviews = tmp_path / "reviews_2025Q1.jsonl"
    write_reviews(reviews)
    out = tmp_path / "cfg"
    command = [sys.executable, "-m", "cjm_tasks.cli", "init", "--reviews", str(reviews), "--out", str(out)]
    first = subprocess.run(command, capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert first.returncode == 0, first.stderr
    assert "wrote 6 files" in first.stdout and "personas.yaml personas[0]: no categorical customer attribute" in first.stdout
    assert f"next: cjm --config {out / 'cjm.yaml'} config check --period 2025Q1" in first.stdout
    again = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "is not empty" in again.stderr
    none = subprocess.run([sys.executable, "-m", "cjm_tasks.cli", "init", "--out", str(tmp_path / "x")], capture_output=True, text=True, timeout=120)
    assert none.returncode == 2
