from qwen_review.cli import run

run()
