"""The local stack: moto server + Cloud Control emulator, and the synthesized template in moto."""
