#ifndef CNCURSES_SHIM_H
#define CNCURSES_SHIM_H
/* SwiftPM drops the -D flags pkg-config reports, so wide-character support is switched on here. */
#define NCURSES_WIDECHAR 1
#ifndef _XOPEN_SOURCE_EXTENDED
#define _XOPEN_SOURCE_EXTENDED 1
#endif
#include <locale.h>
#include <wchar.h>
#include <ncursesw/curses.h>

/* Macros and C globals do not import into Swift 6; these wrappers publish them as functions. */
static inline WINDOW *cnc_stdscr(void) { return stdscr; }
static inline int cnc_lines(void) { return LINES; }
static inline int cnc_cols(void) { return COLS; }
static inline int cnc_colors(void) { return COLORS; }
static inline int cnc_color_pairs(void) { return COLOR_PAIRS; }
static inline int cnc_maxy(WINDOW *w) { int y, x; getmaxyx(w, y, x); (void)x; return y; }
static inline int cnc_maxx(WINDOW *w) { int y, x; getmaxyx(w, y, x); (void)y; return x; }
static inline attr_t cnc_a_normal(void) { return A_NORMAL; }
static inline attr_t cnc_a_bold(void) { return A_BOLD; }
static inline attr_t cnc_a_reverse(void) { return A_REVERSE; }
static inline attr_t cnc_a_underline(void) { return A_UNDERLINE; }
static inline attr_t cnc_a_dim(void) { return A_DIM; }
static inline int cnc_key_resize(void) { return KEY_RESIZE; }
static inline int cnc_key_mouse(void) { return KEY_MOUSE; }
static inline int cnc_key_f(int n) { return KEY_F(n); }
static inline mmask_t cnc_all_mouse_events(void) { return ALL_MOUSE_EVENTS | REPORT_MOUSE_POSITION; }
static inline mmask_t cnc_button1_pressed(void) { return BUTTON1_PRESSED; }
static inline mmask_t cnc_button1_clicked(void) { return BUTTON1_CLICKED; }
static inline mmask_t cnc_button4_pressed(void) { return BUTTON4_PRESSED; }
static inline mmask_t cnc_button5_pressed(void) { return BUTTON5_PRESSED; }
/* Draws one wide character with explicit attributes and colour pair. */
static inline int cnc_put_wchar(WINDOW *w, int y, int x, wchar_t ch, attr_t attrs, int pair) {
    cchar_t cc;
    wchar_t wstr[2] = { ch, L'\0' };
    setcchar(&cc, wstr, attrs, (short)(pair > 32767 ? 0 : pair), &pair);
    return mvwadd_wch(w, y, x, &cc);
}
/* Key codes for the decoder (macros in curses.h). */
static inline int cnc_key_up(void) { return KEY_UP; }
static inline int cnc_key_down(void) { return KEY_DOWN; }
static inline int cnc_key_left(void) { return KEY_LEFT; }
static inline int cnc_key_right(void) { return KEY_RIGHT; }
static inline int cnc_key_ppage(void) { return KEY_PPAGE; }
static inline int cnc_key_npage(void) { return KEY_NPAGE; }
static inline int cnc_key_home(void) { return KEY_HOME; }
static inline int cnc_key_end(void) { return KEY_END; }
static inline int cnc_key_btab(void) { return KEY_BTAB; }
static inline int cnc_key_enter(void) { return KEY_ENTER; }
static inline int cnc_key_backspace(void) { return KEY_BACKSPACE; }
static inline int cnc_key_code_yes(void) { return KEY_CODE_YES; }
static inline int cnc_err(void) { return ERR; }
static inline mmask_t cnc_button1_released(void) { return BUTTON1_RELEASED; }
/* Reads one key or character; *is_key is set for KEY_* codes. Returns ERR on timeout. */
static inline int cnc_read(WINDOW *w, int *is_key, int *code) {
    wint_t ch = 0;
    int r = wget_wch(w, &ch);
    *is_key = (r == KEY_CODE_YES);
    *code = (int)ch;
    return r;
}
/* The last mouse event: position and button mask. Returns ERR when there is none. */
static inline int cnc_mouse(int *x, int *y, mmask_t *state) {
    MEVENT ev;
    if (getmouse(&ev) != OK) return ERR;
    *x = ev.x; *y = ev.y; *state = ev.bstate;
    return OK;
}
/* Opens the terminal named term_name (NULL = $TERM) on stdin/stdout; NULL when it cannot. */
static inline SCREEN *cnc_newterm(const char *term_name) { return newterm(term_name, stdout, stdin); }
/* The locale's character set (e.g. "UTF-8", "ANSI_X3.4-1968"). */
#include <langinfo.h>
static inline const char *cnc_codeset(void) { return nl_langinfo(CODESET); }
#endif
