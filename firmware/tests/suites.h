#ifndef SUITES_H
#define SUITES_H

void suite_frame(void);
void suite_msg(void);
void suite_queue(void);
void suite_gw(void);
void suite_vectors(const char *path);

#endif
