from materializers.dataframe import HashedPandasMaterializer
from materializers.sentence_transformer import SentenceTransformerMaterializer

__all__ = ["HashedPandasMaterializer", "SentenceTransformerMaterializer"]
