"""The electronic health card (电子健康卡): one card per MPI person, QR codes, verification."""
