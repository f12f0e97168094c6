def run_all(*a, **k):
    return {"runs": []}

def render(rel):
    return ""
