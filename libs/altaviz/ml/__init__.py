"""The ML layer: features, models, scoring, emissions, evaluation."""
