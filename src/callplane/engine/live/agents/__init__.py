"""Agent runtimes behind one protocol (`run(conversation) -> Ending`): `flow` and `llm`, plus tools."""
