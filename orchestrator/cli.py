def main() -> int:
    raise SystemExit("orchestrator: not implemented yet")
