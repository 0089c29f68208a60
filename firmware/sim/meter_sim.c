/*
 * meter_sim: runs the gridmeter firmware ELF in simavr as one emulated meter.
 *
 *   meter_sim [--speed F] [--eeprom FILE] [--v-gain-uv N] [--i-gain-ua N] firmware.elf
 *
 * UART0 goes to a pseudo-terminal. The ADC sees a front end (mid-supply offset 512 counts,
 * gain in µV or µA per count: the factory calibration of PROTOCOL.md §5.4) fed with mains
 * waveforms evaluated at the simulated time of each conversion. The simulation is paced
 * to F × real time (F = 0: as fast as possible).
 *
 * Control channel: commands on stdin, one per line; replies and events on stdout, each
 * starting with "@ " (other stdout lines come from simavr and are noise).
 *   set key=value...   v_rms i_rms phase_deg freq h3 h5 h7 (current harmonics, fraction of
 *                      the fundamental) v_h3 (voltage harmonic) adc2..adc5 (raw counts)
 *                      → "@ ok t=<simulated s when it took effect>"
 *   get time|relay|rx|idle → "@ time=<simulated s>", "@ relay=<0|1>", "@ rx=<simulated s
 *                      when the last byte from the host reached the UART>", "@ idle=<fraction
 *                      of cycles the CPU slept>"
 *   speed F            → "@ ok"
 *   reset              → "@ ok" (a hardware reset; EEPROM is kept)
 *   save               → "@ ok" (writes the EEPROM file now)
 *   quit
 * Events: "@ pty=/dev/pts/N" once ready, "@ relay=<0|1> t=<s>" on every change.
 */
#define _GNU_SOURCE
#include <avr_adc.h>
#include <avr_extint.h>
#include <avr_eeprom.h>
#include <avr_ioport.h>
#include <avr_uart.h>
#include <math.h>
#include <pthread.h>
#include <sim_avr.h>
#include <sim_elf.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uart_pty.h>
#include <unistd.h>

#define F_CPU 16000000UL
#define RELAY_PORT 'D'
#define RELAY_BIT 7
#define TWO_PI 6.283185307179586

typedef struct {
  double v_rms, i_rms, phase_deg, freq, h3, h5, h7, v_h3;
  double adc[6];
} waveform_t;

static avr_t *avr;
static uart_pty_t uart;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static waveform_t pending, active;
static atomic_int have_pending, want_reset, want_save, want_quit, relay_state = -1;
static atomic_int want_time, want_idle;
static _Atomic double last_rx_time;
static double speed = 1.0, pending_speed = -1;
static double v_gain = 0.635, i_gain = 0.048828;  // V, A per ADC count
static const char *eeprom_path;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  pthread_mutex_lock(&lock);
  fputs("@ ", stdout);
  vprintf(fmt, ap);
  fputc('\n', stdout);
  fflush(stdout);
  pthread_mutex_unlock(&lock);
  va_end(ap);
}

static double sim_seconds(void) { return (double)avr->cycle / F_CPU; }

static int code(double volts_or_amps, double gain) {
  double c = floor(512.0 + volts_or_amps / gain + 0.5);
  return c < 0 ? 0 : c > 1023 ? 1023 : (int)c;
}

/* Instantaneous mains values at simulated time t. */
static double voltage_at(const waveform_t *w, double t) {
  double wt = TWO_PI * w->freq * t;
  return w->v_rms * M_SQRT2 * (sin(wt) + w->v_h3 * sin(3 * wt));
}

static double current_at(const waveform_t *w, double t) {
  if (relay_state == 0) return 0; /* relay open: no current flows */
  double wt = TWO_PI * w->freq * t - w->phase_deg * TWO_PI / 360.0;
  return w->i_rms * M_SQRT2 *
         (sin(wt) + w->h3 * sin(3 * wt) + w->h5 * sin(5 * wt) + w->h7 * sin(7 * wt));
}

/* A conversion starts: answer with the input at this simulated instant. The raw count
 * goes through unchanged because AVcc is set to 1023 "millivolts". */
static void adc_trigger(struct avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq;
  (void)param;
  union {
    avr_adc_mux_t mux;
    uint32_t v;
  } e = {.v = value};
  if (e.mux.kind != ADC_MUX_SINGLE || e.mux.src > 5) return;
  double t = sim_seconds();
  int c;
  switch (e.mux.src) {
    case 0: c = code(voltage_at(&active, t), v_gain); break;
    case 1: c = code(current_at(&active, t), i_gain); break;
    default: c = (int)active.adc[e.mux.src];
  }
  avr_raise_irq(avr_io_getirq(avr, AVR_IOCTL_ADC_GETIRQ, ADC_IRQ_ADC0 + e.mux.src), c);
}

static void relay_changed(struct avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq;
  (void)param;
  int closed = value ? 1 : 0;
  if (closed == relay_state) return;
  relay_state = closed;
  say("relay=%d t=%.6f", closed, sim_seconds());
}

static void uart_received(struct avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq;
  (void)value;
  (void)param;
  last_rx_time = sim_seconds();
}

static void eeprom_io(int save) {
  if (!eeprom_path) return;
  avr_eeprom_desc_t d = {.ee = NULL, .offset = 0, .size = 0};
  avr_ioctl(avr, AVR_IOCTL_EEPROM_GET, &d);
  if (!d.ee) return;
  FILE *f = fopen(eeprom_path, save ? "wb" : "rb");
  if (!f) return;
  size_t n = (size_t)avr->e2end + 1;
  if (save) fwrite(d.ee, 1, n, f);
  else if (fread(d.ee, 1, n, f) != n) fprintf(stderr, "meter_sim: short EEPROM file\n");
  fclose(f);
}

static int set_field(waveform_t *w, const char *key, double v) {
  struct { const char *name; double *field; } fields[] = {
      {"v_rms", &w->v_rms}, {"i_rms", &w->i_rms}, {"phase_deg", &w->phase_deg},
      {"freq", &w->freq},   {"h3", &w->h3},       {"h5", &w->h5},
      {"h7", &w->h7},       {"v_h3", &w->v_h3},   {"adc2", &w->adc[2]},
      {"adc3", &w->adc[3]}, {"adc4", &w->adc[4]}, {"adc5", &w->adc[5]},
  };
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; ++i)
    if (!strcmp(key, fields[i].name)) {
      *fields[i].field = v;
      return 1;
    }
  return 0;
}

static void *control_thread(void *arg) {
  (void)arg;
  char line[512];
  while (fgets(line, sizeof line, stdin)) {
    char *cmd = strtok(line, " \t\r\n");
    if (!cmd) continue;
    if (!strcmp(cmd, "set")) {
      pthread_mutex_lock(&lock);
      waveform_t w = pending;
      pthread_mutex_unlock(&lock);
      int ok = 1;
      for (char *kv; (kv = strtok(NULL, " \t\r\n"));) {
        char *eq = strchr(kv, '=');
        if (!eq) { ok = 0; break; }
        *eq = 0;
        if (!set_field(&w, kv, atof(eq + 1))) { ok = 0; break; }
      }
      if (!ok) { say("error bad set argument"); continue; }
      pthread_mutex_lock(&lock);
      pending = w;
      pthread_mutex_unlock(&lock);
      have_pending = 1; /* the simulation thread applies it and answers */
    } else if (!strcmp(cmd, "get")) {
      char *what = strtok(NULL, " \t\r\n");
      if (what && !strcmp(what, "time")) want_time = 1;
      else if (what && !strcmp(what, "relay")) say("relay=%d", relay_state < 0 ? 0 : relay_state);
      else if (what && !strcmp(what, "rx")) say("rx=%.6f", (double)last_rx_time);
      else if (what && !strcmp(what, "idle")) want_idle = 1;
      else say("error get what? time|relay|rx|idle");
    } else if (!strcmp(cmd, "speed")) {
      char *v = strtok(NULL, " \t\r\n");
      pthread_mutex_lock(&lock);
      pending_speed = v ? atof(v) : 1.0;
      pthread_mutex_unlock(&lock);
      say("ok");
    } else if (!strcmp(cmd, "reset")) {
      want_reset = 1;
    } else if (!strcmp(cmd, "save")) {
      want_save = 1;
    } else if (!strcmp(cmd, "quit")) {
      break;
    } else {
      say("error unknown command %s", cmd);
    }
  }
  want_quit = 1;  /* stdin closed or quit: the bench is gone */
  return NULL;
}

/* simavr's default sleep callback usleep()s through every idle stretch; pacing is done in
 * the main loop instead, in 2 ms steps. */
static void skip_sleep(avr_t *a, avr_cycle_count_t how_long) {
  (void)a;
  (void)how_long;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  const char *elf = NULL;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--speed") && i + 1 < argc) speed = atof(argv[++i]);
    else if (!strcmp(argv[i], "--eeprom") && i + 1 < argc) eeprom_path = argv[++i];
    else if (!strcmp(argv[i], "--v-gain-uv") && i + 1 < argc) v_gain = atof(argv[++i]) * 1e-6;
    else if (!strcmp(argv[i], "--i-gain-ua") && i + 1 < argc) i_gain = atof(argv[++i]) * 1e-6;
    else elf = argv[i];
  }
  if (!elf) {
    fprintf(stderr, "usage: meter_sim [--speed F] [--eeprom FILE] firmware.elf\n");
    return 2;
  }
  elf_firmware_t fw;
  memset(&fw, 0, sizeof fw);
  if (elf_read_firmware(elf, &fw) != 0) {
    fprintf(stderr, "meter_sim: cannot read %s\n", elf);
    return 2;
  }
  avr = avr_make_mcu_by_name("atmega328p");
  if (!avr) return 2;
  avr_init(avr);
  avr->frequency = F_CPU;
  avr_load_firmware(avr, &fw);
  avr->vcc = avr->aref = 5000;
  avr->avcc = 1023;
  avr->log = LOG_ERROR;
  avr->sleep = skip_sleep;
  /* simavr polls INT0/INT1 every cycle while D2/D3 are low unless told otherwise. */
  avr_extint_set_strict_lvl_trig(avr, 0, 0);
  avr_extint_set_strict_lvl_trig(avr, 1, 0);
  eeprom_io(0);

  memset(&pending, 0, sizeof pending);
  pending.v_rms = 230;
  pending.freq = 50;
  for (int ch = 2; ch < 6; ++ch) pending.adc[ch] = 512;
  active = pending;

  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_ADC_GETIRQ, ADC_IRQ_OUT_TRIGGER),
                          adc_trigger, NULL);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ(RELAY_PORT), RELAY_BIT),
                          relay_changed, NULL);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT),
                          uart_received, NULL);
  uart_pty_init(avr, &uart);
  uart_pty_connect(&uart, '0');
  say("pty=%s", uart.port[0].slavename);

  pthread_t control;
  pthread_create(&control, NULL, control_thread, NULL);

  double wall0 = now_s();
  avr_cycle_count_t cycle0 = 0;
  avr_cycle_count_t asleep = 0; /* cycles the CPU spent in a sleep mode */
  for (unsigned n = 0;; ++n) {
    avr_cycle_count_t before = avr->cycle;
    int sleeping = avr->state == cpu_Sleeping;
    int state = avr_run(avr);
    if (sleeping) asleep += avr->cycle - before;
    if (state == cpu_Done || state == cpu_Crashed) {
      fprintf(stderr, "meter_sim: firmware stopped (state %d)\n", state);
      break;
    }
    if (n & 1023) continue;
    if (have_pending) {
      pthread_mutex_lock(&lock);
      active = pending;
      pthread_mutex_unlock(&lock);
      have_pending = 0;
      say("ok t=%.6f", sim_seconds());
    }
    if (want_time) {
      want_time = 0;
      say("time=%.6f", sim_seconds());
    }
    if (want_idle) {
      want_idle = 0;
      say("idle=%.4f", avr->cycle ? (double)asleep / avr->cycle : 0.0);
    }
    if (want_reset) {
      want_reset = 0;
      avr_reset(avr);
      say("ok");
    }
    if (want_save) {
      want_save = 0;
      eeprom_io(1);
      say("ok");
    }
    if (want_quit) break;
    pthread_mutex_lock(&lock);
    if (pending_speed >= 0) {
      speed = pending_speed;
      pending_speed = -1;
      wall0 = now_s();
      cycle0 = avr->cycle;
    }
    pthread_mutex_unlock(&lock);
    if (speed > 0) {
      double ahead = (double)(avr->cycle - cycle0) / F_CPU / speed - (now_s() - wall0);
      if (ahead > 0.002) {
        struct timespec ts = {0, (long)(ahead * 1e9)};
        nanosleep(&ts, NULL);
      } else if (ahead < -0.5) { /* cannot keep up: do not try to catch up in a burst */
        wall0 = now_s();
        cycle0 = avr->cycle;
      }
    }
  }
  eeprom_io(1);
  fflush(stdout);
  _exit(0); /* uart_pty_stop() can hang */
}
