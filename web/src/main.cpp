// Platform setup and the main loop only: GLFW window on a WebGL2 canvas, Dear ImGui's GLFW and
// OpenGL3 backends, and a canvas that follows the window size and devicePixelRatio. Everything
// the user sees is drawn by App.
//
// Frames are drawn only when needed: after input, while requests are in flight, for a few frames
// after either (ImGui settles layout and popups over 2-3 frames), and once a second otherwise
// (relative times). The software renderer of a headless or GPU-less browser costs ~10 ms a
// frame; an idle console costs nothing.

#include <GLES3/gl3.h>
#include <GLFW/glfw3.h>
#include <emscripten/emscripten.h>
#include <emscripten/html5.h>
#include <imgui.h>
#include <imgui_impl_glfw.h>
#include <imgui_impl_opengl3.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "app.h"
#include "browser.h"

namespace {

constexpr const char* kCanvas = "#canvas";
constexpr const char* kTitle = "mambo EMM \u2014 Webhooks";
constexpr float kBaseFontPx = 13.0f;  // ImGui's default font at 1 CSS pixel per pixel

constexpr int kSettleFrames = 4;         // frames drawn after the last input or answer
constexpr double kIdleFrameMs = 1000.0;  // relative times ("3 s ago") stay current
constexpr double kCaretFrameMs = 300.0;  // a focused text field's caret keeps blinking

bool g_input = false;  // set by the GLFW callbacks, which ImGui's backend chains to

struct Platform {
  GLFWwindow* window = nullptr;
  float pixel_ratio = 0.0f;  // canvas pixels per CSS pixel the fonts and style are built for
  ImGuiStyle base_style;     // unscaled, so rescaling never compounds rounding
  mambo::web::App app;
  int settle_frames = kSettleFrames;
  double last_frame_ms = 0;
  double frame_cpu_ms = 0;
  bool fonts_uploaded = false;  // the backend has made its GL objects (font texture included)  //
                                // CPU time of the last drawn frame (bench reads it)
};

// Emscripten 3.1.6's GLFW has no high-DPI support: its window size is the canvas backing-store
// size and mouse positions arrive in canvas pixels. So ImGui works in canvas pixels and the UI is
// scaled by devicePixelRatio (font rasterised at that size, style sizes scaled): crisp text,
// same CSS layout on every screen.
bool FollowCanvasSize(Platform& p) {
  double css_w = 0, css_h = 0;
  emscripten_get_element_css_size(kCanvas, &css_w, &css_h);
  float ratio = static_cast<float>(emscripten_get_device_pixel_ratio());
  if (!(ratio > 0.0f)) ratio = 1.0f;
  const int want_w = std::max(1, static_cast<int>(std::lround(css_w * ratio)));
  const int want_h = std::max(1, static_cast<int>(std::lround(css_h * ratio)));
  int w = 0, h = 0;
  glfwGetWindowSize(p.window, &w, &h);
  if (w != want_w || h != want_h) {
    // Not glfwSetWindowSize: Emscripten's GLFW requests fullscreen when the size equals the
    // screen's (it does in a maximised or headless browser). Browser.setCanvasSize sets the
    // backing store and tells GLFW through its resize listener, which updates the window size.
    EM_ASM({ Module['setCanvasSize']($0, $1); }, want_w, want_h);
  }
  const bool resized = w != want_w || h != want_h;

  if (ratio == p.pixel_ratio) return resized;
  p.pixel_ratio = ratio;
  ImGuiIO& io = ImGui::GetIO();
  io.Fonts->Clear();
  ImFontConfig font;
  font.SizePixels = std::floor(kBaseFontPx * ratio);
  io.Fonts->AddFontDefault(&font);
  // The first time, the backend's first NewFrame builds the texture from this atlas: building
  // it twice costs a texture upload on the way to the first frame.
  if (p.fonts_uploaded) {
    ImGui_ImplOpenGL3_DestroyFontsTexture();
    ImGui_ImplOpenGL3_CreateFontsTexture();
  }
  ImGui::GetStyle() = p.base_style;
  ImGui::GetStyle().ScaleAllSizes(ratio);
  return true;
}

void MainLoopStep(void* arg) {
  Platform& p = *static_cast<Platform*>(arg);
  glfwPollEvents();
  const double now = emscripten_get_now();
  p.app.Update(static_cast<int64_t>(mambo::web::browser::NowMs()));
  const bool resized = FollowCanvasSize(p);  // may rebuild the font atlas (and its texture)
  ImGui_ImplOpenGL3_NewFrame();              // creates the GL objects on the first frame
  p.fonts_uploaded = true;

  const bool woken = mambo::web::browser::ConsumeWake();
  if (g_input || woken || resized || p.app.Busy()) {
    p.settle_frames = kSettleFrames;
  } else if (p.settle_frames > 0) {
    --p.settle_frames;
  } else if (now - p.last_frame_ms <
             (ImGui::GetIO().WantTextInput ? kCaretFrameMs : kIdleFrameMs)) {
    return;  // nothing changed: the canvas keeps showing the last frame
  }
  g_input = false;
  p.last_frame_ms = now;

  ImGui_ImplGlfw_NewFrame();
  ImGui::NewFrame();
  p.app.Draw(p.pixel_ratio);
  ImGui::Render();

  int fb_w = 0, fb_h = 0;
  glfwGetFramebufferSize(p.window, &fb_w, &fb_h);
  glViewport(0, 0, fb_w, fb_h);
  const ImVec4 bg = ImGui::GetStyle().Colors[ImGuiCol_WindowBg];
  glClearColor(bg.x, bg.y, bg.z, 1.0f);
  glClear(GL_COLOR_BUFFER_BIT);
  ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
  p.frame_cpu_ms = emscripten_get_now() - now;
}

void InstallWakeCallbacks(GLFWwindow* w) {
  glfwSetMouseButtonCallback(w, [](GLFWwindow*, int, int, int) { g_input = true; });
  glfwSetCursorPosCallback(w, [](GLFWwindow*, double, double) { g_input = true; });
  glfwSetScrollCallback(w, [](GLFWwindow*, double, double) { g_input = true; });
  glfwSetKeyCallback(w, [](GLFWwindow*, int, int, int, int) { g_input = true; });
  glfwSetCharCallback(w, [](GLFWwindow*, unsigned int) { g_input = true; });
  glfwSetCursorEnterCallback(w, [](GLFWwindow*, int) { g_input = true; });
  glfwSetWindowFocusCallback(w, [](GLFWwindow*, int) { g_input = true; });
}

Platform* g_platform = nullptr;

}  // namespace

// CPU milliseconds of the last drawn frame (input to Render); for the benchmark.
extern "C" EMSCRIPTEN_KEEPALIVE double console_frame_cpu_ms() {
  return g_platform ? g_platform->frame_cpu_ms : 0.0;
}

int main() {
  if (!glfwInit()) {
    std::fprintf(stderr, "glfwInit failed\n");
    return 1;
  }
  glfwWindowHint(GLFW_CLIENT_API, GLFW_OPENGL_ES_API);
  glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, 3);
  glfwWindowHint(GLFW_CONTEXT_VERSION_MINOR, 0);
  // An opaque canvas without depth or stencil buffers: ImGui needs neither, and a software
  // renderer (SwiftShader in headless or GPU-less browsers) pays for every buffer per pixel.
  glfwWindowHint(GLFW_ALPHA_BITS, 0);
  glfwWindowHint(GLFW_DEPTH_BITS, 0);
  glfwWindowHint(GLFW_STENCIL_BITS, 0);

  static Platform platform;  // lives for the page's lifetime (main returns into the loop)
  platform.window = glfwCreateWindow(1280, 800, kTitle, nullptr, nullptr);
  if (!platform.window) {
    std::fprintf(stderr, "glfwCreateWindow failed (no WebGL2?)\n");
    return 1;
  }
  glfwMakeContextCurrent(platform.window);

  IMGUI_CHECKVERSION();
  ImGui::CreateContext();
  ImGuiIO& io = ImGui::GetIO();
  io.IniFilename = nullptr;  // no imgui.ini on the web: layout comes from code, not storage
  io.LogFilename = nullptr;
  io.ConfigFlags |= ImGuiConfigFlags_NavEnableKeyboard;
  mambo::web::ApplyConsoleStyle(ImGui::GetStyle());
  platform.base_style = ImGui::GetStyle();

  InstallWakeCallbacks(platform.window);  // before ImGui's: its backend chains to them
  ImGui_ImplGlfw_InitForOpenGL(platform.window, true);
  ImGui_ImplOpenGL3_Init("#version 300 es");
  mambo::web::browser::InstallClipboard();
  g_platform = &platform;
  platform.app.Start();

  // 0 fps = requestAnimationFrame; simulate_infinite_loop keeps `platform` and the stack alive.
  emscripten_set_main_loop_arg(MainLoopStep, &platform, 0, true);
  return 0;
}
