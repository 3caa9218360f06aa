"""The statsforecast side of `agora bench forecast`.

Reads the series Agora benchmarks (JSON: {"horizon": h, "series": [[...], ...]}), fits each peer
model on all of them with statsforecast in this process, and writes every model's point forecasts
and 80%/95% intervals with the CPU seconds it took to the output JSON. Agora scores them with the
same metric code it scores itself with.

Usage: forecast_statsforecast.py INPUT.json OUTPUT.json

Each model is first run on the shortest series alone (not timed), so one-off set-up stays out of
the times. It runs in one process (n_jobs = 1): with more, the start-up of worker processes and
the pickling of data and results would be timed too, which would be unfair to statsforecast. CPU
seconds are therefore the unit on both sides.
"""

import json
import sys
import time
from importlib.metadata import version

import numpy as np
import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import AutoARIMA, AutoETS, AutoTheta

PEERS = {
    "AutoETS(52)": lambda: AutoETS(season_length=52),
    "AutoTheta(52)": lambda: AutoTheta(season_length=52),
    "AutoARIMA(1)": lambda: AutoARIMA(season_length=1),
}


def frame(series):
    parts = [
        pd.DataFrame({"unique_id": f"s{index:05d}", "ds": np.arange(len(values)), "y": np.asarray(values, dtype=float)})
        for index, values in enumerate(series)
    ]
    return pd.concat(parts, ignore_index=True)


def main():
    source, target = sys.argv[1], sys.argv[2]
    with open(source) as handle:
        spec = json.load(handle)
    horizon, series = spec["horizon"], spec["series"]
    data = frame(series)
    shortest = frame([min(series, key=len)])
    results = {"statsforecast": version("statsforecast"), "models": {}}
    for name, make in PEERS.items():
        model = make()
        alias = type(model).__name__
        StatsForecast(models=[make()], freq=1, n_jobs=1).forecast(df=shortest, h=horizon, level=[80, 95])
        started = time.process_time()
        out = StatsForecast(models=[model], freq=1, n_jobs=1).forecast(df=data, h=horizon, level=[80, 95])
        seconds = time.process_time() - started
        out = out.sort_values(["unique_id", "ds"])
        columns = {
            "mean": alias,
            "lower80": f"{alias}-lo-80",
            "upper80": f"{alias}-hi-80",
            "lower95": f"{alias}-lo-95",
            "upper95": f"{alias}-hi-95",
        }
        forecasts = []
        for _, group in out.groupby("unique_id", sort=True):
            forecast = {key: group[column].astype(float).tolist() for key, column in columns.items()}
            forecast["model"] = name
            forecasts.append(forecast)
        results["models"][name] = {"seconds": seconds, "forecasts": forecasts}
        print(f"  statsforecast {name}: {seconds:.1f} CPU-s", file=sys.stderr, flush=True)
    with open(target, "w") as handle:
        json.dump(results, handle)


if __name__ == "__main__":
    main()
