"""Hydra recipe configs (`+recipe=videorft`) and launch scripts; shipped as verl_videorft.recipes."""
