"""Identity foundations: SM3/SM4 field encryption, key management and the tamper-evident audit."""
