/* edgegeo C API: the edgegeo runtime embedded in a C or C++ program.
 *
 * Build:  cc app.c $(edgegeo capi --cflags) $(edgegeo capi --libs) -o app
 * All functions return 0 (or a non-NULL pointer) on success; on failure non-zero (NULL) and
 * eg_last_error() says what went wrong, for the calling thread. Bad arguments the API can
 * detect (NULL pointers, sizes, strides, names) are errors, never crashes.
 *
 * Threads: any thread may call any function; each call takes Python's GIL for its duration
 * (a model or pipeline is used by one call at a time). eg_init() is optional: the first call
 * of any function starts the embedded runtime.
 *
 * Images are uint8 RGB interleaved, rows row_stride_bytes apart (>= 3 * width: a camera
 * buffer with padding is passed as it is, not copied). Depth is uint16 millimetres, 0 =
 * invalid. Matrices are row-major doubles. Outputs are written into the caller's buffers.
 */
#ifndef EDGEGEO_H
#define EDGEGEO_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

int         eg_init(void);            /* start the embedded runtime; idempotent; 0 = ok        */
void        eg_shutdown(void);
const char *eg_last_error(void);      /* message of this thread's last failure                 */

typedef struct eg_model eg_model;
eg_model *eg_model_load(const char *name, const char *backend, const char *precision);
int  eg_depth(eg_model *m, const uint8_t *rgb, int height, int width, int row_stride_bytes,
              float *out);
int  eg_stereo(eg_model *m, const uint8_t *left, const uint8_t *right, int height, int width,
               int row_stride_bytes, float *out);
void eg_model_free(eg_model *m);

typedef struct eg_pipeline eg_pipeline;
eg_pipeline *eg_pipeline_open(const char *pipeline, const char *options_toml);
int  eg_pipeline_push_rgbd(eg_pipeline *p, const uint8_t *rgb, const uint16_t *depth_mm,
                           int height, int width, const double K[9],
                           const double world_T_cam[16], double timestamp);
int  eg_pipeline_save_mesh(eg_pipeline *p, const char *ply_path);
void eg_pipeline_close(eg_pipeline *p);

#ifdef __cplusplus
}
#endif
#endif /* EDGEGEO_H */
