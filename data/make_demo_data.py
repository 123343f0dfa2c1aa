#!/usr/bin/env python
"""Thin wrapper: the demo-set generator ships in the package as ``verl_videorft.data.demo_set``.

    python data/make_demo_data.py --out data/demo --train 40 --val 10 --seed 0 --parquet
"""

from verl_videorft.data.demo_set import main

if __name__ == "__main__":
    main()
