"""Hostile and careless inputs (issue 15): the corpus of cases every refresh must refuse cleanly
(:mod:`tests.hostile.cases`), the file edits they are made of (:mod:`tests.hostile.edits`) and
the runner that puts them through the ``cjm`` command and reads what it left behind
(:mod:`tests.hostile.run`). docs/testing-hostile.md says how to add a case."""
