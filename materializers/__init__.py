from materializers.sentence_transformer import SentenceTransformerMaterializer

__all__ = ["SentenceTransformerMaterializer"]
