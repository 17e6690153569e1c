"""Python tasks of the NAME pipeline (pipelines/NAME.yaml): pipe calls each function with
the task's `with:` values, and the dict it returns becomes the task's outputs."""


def count_words(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        words = len(f.read().split())
    print(f"{path}: {words} words")        # goes to the task's log: `pipe logs NAME count`
    return {"words": words}
