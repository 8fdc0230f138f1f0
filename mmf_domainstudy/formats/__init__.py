"""Readers and writers of MMF's on-disk formats: imdb .npy (``imdb.py``), jsonl, LMDB feature
stores (``lmdb_store.py``, ``feature_store.py``), .npy features, and the restricted unpickler
every pickle goes through (``safe_pickle.py``). Import the module you need."""
