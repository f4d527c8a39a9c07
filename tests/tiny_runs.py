"""Settings of the tiny LSTM runs on the traffic simulator that several tests train (seconds each)."""

TINY_TRAFFIC_MODEL = [
    "data.n_per_pattern=12",
    "data.length=24",
    "model.hidden_size=8",
    "model.num_layers=1",
    "model.embedding_dim=4",
    "model.dense=[8]",
]
