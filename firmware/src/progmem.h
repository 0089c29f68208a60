// Flash-resident constants on the AVR; plain memory on the host (unit tests).
#pragma once
#ifdef __AVR__
#include <avr/pgmspace.h>
#else
#include <stdint.h>
#include <string.h>
#define PROGMEM
#define pgm_read_byte(p) (*(const uint8_t*)(p))
#define pgm_read_dword(p) (*(const uint32_t*)(p))
#define memcpy_P memcpy
#endif
