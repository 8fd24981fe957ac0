"""One figure of docs/benchmarks.md: its workload, series, ratios and targets."""
from .measure import Series


class Figure:
    def __init__(self, key, number, title, workload):
        self.key, self.number, self.title = key, number, title
        self.workload = workload      # precise description, markdown
        self.series = {}              # key -> Series, in insertion order
        self.ratios = []              # {label, value, text}
        self.targets = []             # {text, measured, met, explanation}
        self.tables = []              # extra tables: {title, header, rows}
        self.notes = []               # markdown paragraphs
        self.status = "ok"            # or "not available in this build: ..." / "failed: ..."
        self.chart = True             # draw the series in docs/benchmarks.svg
        self.log_scale = False
        self.extra = {}               # figure-specific data the report reads (JSON-safe)

    def add_series(self, key, label, unit, better, role="subject"):
        s = Series(key, label, unit, better, role)
        self.series[key] = s
        return s

    def median(self, key):
        s = self.series.get(key)
        return s.median if s else None

    def ratio(self, label, num_key, den_key, text=None):
        """Adds median(num) / median(den); returns it (None when unmeasured)."""
        num, den = self.median(num_key), self.median(den_key)
        value = num / den if num is not None and den else None
        self.ratios.append({"label": label, "value": value, "text": text})
        return value

    def target(self, text, measured, met, value=None, explanation=None, primary=True):
        """A target of the issue's table.  measured: what the report prints (a
        ratio, or a string such as "51 ns"); value: the number behind it, which
        the run-to-run spread compares (defaults to measured when numeric);
        primary=False for the older targets kept beside the issue's table."""
        if value is None and isinstance(measured, (int, float)):
            value = measured
        self.targets.append({"text": text, "measured": measured, "value": value,
                             "met": bool(met), "explanation": explanation,
                             "primary": primary})

    def to_json(self):
        return {"number": self.number, "title": self.title, "workload": self.workload,
                "status": self.status,
                "series": {k: s.to_json() for k, s in self.series.items()},
                "ratios": self.ratios, "targets": self.targets, "tables": self.tables,
                "notes": self.notes, "chart": self.chart, "log_scale": self.log_scale,
                "extra": self.extra}

    @classmethod
    def from_json(cls, key, d):
        """Rebuilds a figure from a results file (bench/run --report-from)."""
        fig = cls(key, d["number"], d["title"], d["workload"])
        fig.status, fig.ratios, fig.tables = d["status"], d["ratios"], d["tables"]
        fig.notes, fig.targets = d["notes"], d["targets"]
        for t in fig.targets:
            t["explanation"] = None  # re-derived from bench/harness/explanations.py
        fig.chart = d.get("chart", True)
        fig.extra = d.get("extra", {})
        fig.log_scale = d.get("log_scale", key in ("signature", "rls", "baselines"))
        for skey, s in d["series"].items():
            fig.add_series(skey, s["label"], s["unit"], s["better"], s["role"]).samples = s["samples"]
        return fig
