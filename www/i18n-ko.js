// Korean for the page (i18n.js applies it). Keys are the page's exact English, trimmed, with runs
// of whitespace collapsed to one space; the HTML's text is split at inline elements (<strong>,
// <em>, <code>, links), so some entries are pieces of a sentence, written so that the Korean
// pieces read as one sentence in the page's order. KO_PATTERNS cover text the JS composes with
// numbers and names: `fn(match, sub)` returns the Korean, `sub(x)` translates a fragment (a
// model's name, an error's detail) when it is known and leaves it as is otherwise (details from
// the model's Rust core stay English). Terms Korean ML users use as they are (WebGPU, CPU, f16,
// softmax, WiSE-FT, SigLIP, CLIP) stay in Latin script. The shapes world's class names and the
// prompts stay English: the bundled model reads English only.

const LANGS = { English: "영어", multilingual: "다국어" };

export const KO_TITLE = "webclip — 브라우저 속 CLIP";

export const KO = {
  // ---- header, status, tabs
  "Zero-shot image classification, fine-tuning and training with CLIP — in your browser.":
    "CLIP으로 하는 제로샷 이미지 분류, 파인튜닝, 학습 — 모두 브라우저 안에서.",
  "Where the model runs": "모델이 실행되는 곳",
  "loading…": "불러오는 중…",
  "no model": "모델 없음",
  "Your images never leave this machine: the model runs inside this page (WebGPU or the CPU). The only network traffic is the model download you choose.":
    "이미지는 이 컴퓨터 밖으로 나가지 않습니다. 모델은 이 페이지 안에서(WebGPU 또는 CPU로) 실행됩니다. 네트워크를 쓰는 것은 직접 고른 모델 다운로드뿐입니다.",
  "Starting…": "시작하는 중…",
  Views: "보기",
  Classify: "분류",
  "Fine-tune": "파인튜닝",
  Learn: "학습 과정",
  "Dismiss this message": "이 메시지 닫기",

  // ---- Classify: the model panel
  Model: "모델",
  "No model loaded yet.": "아직 불러온 모델이 없습니다.",
  "Model source": "모델 출처",
  "Shapes world": "도형 세계",
  "(bundled, 12 MB, offline) — a tiny CLIP that knows 6 colours × 4 shapes":
    "(내장, 12 MB, 오프라인) — 색 6가지 × 도형 4가지를 아는 작은 CLIP",
  "Hugging Face hub": "Hugging Face 허브",
  "— e.g. OpenAI ViT-B/32 (605 MB download, cached after the first time)":
    "— 예: OpenAI ViT-B/32 (605 MB 다운로드, 한 번 받으면 캐시에 저장)",
  "Folder URL": "폴더 URL",
  Checkpoint: "체크포인트",
  "Other: type a folder URL": "기타: 폴더 URL 직접 입력",
  "Folder from disk": "디스크의 폴더",
  "Drop the model files or their folder here, or": "모델 파일이나 폴더를 여기에 끌어다 놓거나 여기서 고르세요:",
  "choose files": "파일 선택",
  "choose a folder": "폴더 선택",
  "Selected model files": "선택한 모델 파일",
  Backend: "백엔드",
  "Auto (WebGPU if available, else CPU)": "자동 (가능하면 WebGPU, 아니면 CPU)",
  Precision: "정밀도",
  "Auto: f16 on a GPU with shader-f16 (half the GPU memory and memory traffic), else f32":
    "자동: shader-f16을 지원하는 GPU에서는 f16(GPU 메모리와 메모리 전송량이 절반), 그 밖에는 f32",
  Auto: "자동",
  "Load model": "모델 불러오기",
  Download: "다운로드",
  Timings: "소요 시간",
  "Model load": "모델 불러오기",
  "From the first request after loading to the first probabilities; on WebGPU it includes compiling the shaders":
    "불러온 뒤 첫 요청부터 첫 확률이 나올 때까지. WebGPU에서는 셰이더 컴파일 시간이 들어 있습니다",
  "First run (incl. shader compilation)": "첫 실행 (셰이더 컴파일 포함)",
  "Per image": "이미지당",
  "Per label set (text encoder)": "클래스 목록당 (텍스트 인코더)",

  // ---- Classify: classes, images, search
  Classes: "클래스",
  "Class names, one per line": "클래스 이름 (한 줄에 하나씩)",
  "Prompt templates": "프롬프트 템플릿",
  "Auto: each class name in its own language's template — Korean, Japanese and Chinese names are recognised by their script; for the others pick a language (multilingual models such as SigLIP 2 read them)":
    "자동: 클래스 이름마다 그 언어의 템플릿을 씁니다 — 한국어, 일본어, 중국어 이름은 글자로 알아봅니다. 다른 언어는 직접 고르세요 (SigLIP 2 같은 다국어 모델이 읽을 수 있습니다)",
  "Auto: by each name's language": "자동: 이름마다 그 언어로",
  "Single: “a photo of a {}.”": "하나: “a photo of a {}.”",
  "CLIP ensemble: STL-10 (2 templates)": "CLIP 앙상블: STL-10 (템플릿 2개)",
  "CLIP ensemble: CIFAR (18 templates)": "CLIP 앙상블: CIFAR (템플릿 18개)",
  "CLIP ensemble: ImageNet (80 templates)": "CLIP 앙상블: ImageNet (템플릿 80개)",
  "Add at least one class name.": "클래스 이름을 하나 이상 입력하세요.",
  Images: "이미지",
  "Remove all": "모두 지우기",
  Remove: "삭제",
  "Add images: drop them here, press Enter to choose files, or paste":
    "이미지 추가: 여기에 끌어다 놓거나, Enter를 눌러 파일을 고르거나, 붙여넣으세요",
  "Drop images here": "이미지를 여기에 끌어다 놓거나",
  ", click to choose files, or paste (Ctrl/⌘ V)": ", 클릭해서 파일을 고르거나, 붙여넣으세요 (Ctrl/⌘ V)",
  "JPEG, PNG, GIF, WebP, BMP, TIFF — processed locally": "JPEG, PNG, GIF, WebP, BMP, TIFF — 이 컴퓨터 안에서 처리됩니다",
  "Choose images": "이미지 선택",
  "Search your images by text": "텍스트로 이미지 검색",
  "e.g. a purple star": "예: a purple star",
  "Images ranked by similarity": "유사도 순으로 정렬한 이미지",
  "Images and their probabilities": "이미지와 확률",
  "this file could not be read": "이 파일을 읽을 수 없습니다",
  "Waiting for the model…": "모델을 기다리는 중…",
  "Add class names to classify this image.": "이 이미지를 분류하려면 클래스 이름을 입력하세요.",
  "Classifying…": "분류하는 중…",
  "Add at least one class name to classify the images.": "이미지를 분류하려면 클래스 이름을 하나 이상 입력하세요.",
  "The class names were refused; edit them to continue.": "클래스 이름이 거부되었습니다. 계속하려면 고치세요.",
  "Add images to search them.": "검색할 이미지를 추가하세요.",

  // ---- the model's names, and messages of loading (also inside patterns)
  "the shapes-world model": "도형 세계 모델",
  "the model from disk": "디스크의 모델",
  "the model": "모델",
  "a model": "모델",
  "the webclip package did not load (see the message above)": "webclip 패키지를 불러오지 못했습니다 (위 메시지를 보세요)",
  "the webclip package did not load": "webclip 패키지를 불러오지 못했습니다",
  "enter the URL of a Hugging Face model folder": "Hugging Face 모델 폴더의 URL을 입력하세요",
  "Reading the model files…": "모델 파일을 읽는 중…",
  "No model files found: pick config.json, model.safetensors and tokenizer.json.":
    "모델 파일이 없습니다: config.json, model.safetensors, tokenizer.json을 고르세요.",
  "Some model files are missing; loading will name them.": "모델 파일 일부가 없습니다. 불러올 때 빠진 파일을 알려 드립니다.",
  "Press “Load model” to download it (cached after the first time).":
    "“모델 불러오기”를 눌러 내려받으세요 (한 번 받으면 캐시에 저장됩니다).",
  "Choose or drop the model files.": "모델 파일을 고르거나 끌어다 놓으세요.",
  "The webclip package could not be loaded.": "webclip 패키지를 불러올 수 없습니다.",
  // the device note under the badge (the core's words, fixed ones)
  "this browser offers no WebGPU adapter; running on the CPU": "이 브라우저에는 WebGPU 어댑터가 없어서 CPU로 실행합니다",

  // ---- Fine-tune
  "A saved fine-tuning run was found.": "저장된 파인튜닝 실행이 있습니다.",
  Resume: "이어서 하기",
  "Discard it": "버리기",
  "Restore it": "복원하기",
  "Training data": "학습 데이터",
  "Add images": "이미지 추가",
  "Your images from the Classify view, each with the label it should get. Labels are prefilled from the top class (or the file name): correct them. Images marked “held out” are not trained on; they measure accuracy on images the model has not been tuned with.":
    "분류 탭의 이미지와, 각 이미지가 받아야 할 레이블입니다. 레이블은 가장 높은 클래스(또는 파일 이름)로 미리 채워지니 틀린 것은 고치세요. “평가용”으로 표시한 이미지는 학습에 쓰지 않고, 모델이 튜닝하지 않은 이미지에서 정확도를 재는 데 씁니다.",
  "Caption template": "캡션 템플릿",
  "Each label fills": "각 레이블이",
  "; use just": "자리에 들어갑니다. 그냥",
  "to train on your text as written.": "만 쓰면 입력한 텍스트 그대로 학습합니다.",
  "Training images and their labels": "학습 이미지와 레이블",
  "held out": "평가용",
  "Can't be read: not used.": "읽을 수 없음: 쓰지 않습니다.",
  "Held out: measures accuracy.": "평가용: 정확도를 잽니다.",
  "No images yet: add some here or in the Classify view.": "아직 이미지가 없습니다. 여기나 분류 탭에서 추가하세요.",
  "the caption template must contain {} (where the label goes)": "캡션 템플릿에는 레이블이 들어갈 자리인 {}가 있어야 합니다",
  Settings: "설정",
  "What trains": "학습할 부분",
  "The projections and the temperature (fast, gentle)": "프로젝션과 온도 (빠르고 부드럽게)",
  "The last N blocks of each tower + projections": "각 타워의 마지막 N개 블록 + 프로젝션",
  Everything: "전체",
  "N (blocks)": "N (블록 수)",
  "Lock a tower (keep it as it is)": "타워 고정 (그대로 두기)",
  "Image tower": "이미지 타워",
  "Text tower": "텍스트 타워",
  "Learning rate": "학습률",
  "Batch size": "배치 크기",
  Steps: "스텝 수",
  "More settings": "설정 더 보기",
  "Warmup steps": "워밍업 스텝",
  "Weight decay": "가중치 감쇠",
  Loss: "손실",
  "Softmax (CLIP's InfoNCE): each image picks its caption among the batch. Sigmoid (SigLIP's): every image–caption pair is its own yes/no question, which holds up better at small batches.":
    "Softmax (CLIP의 InfoNCE): 각 이미지가 배치 안에서 자기 캡션을 고릅니다. Sigmoid (SigLIP 방식): 이미지–캡션 쌍마다 따로 예/아니요 문제를 풀기 때문에 배치가 작을 때 더 잘 버팁니다.",
  "The model's own": "모델 기본값",
  "Evaluate every": "평가 간격 (스텝)",
  "Save every (steps)": "저장 간격 (스텝)",
  "Save every": "저장 간격",
  "auto: every step for models up to 64 MB, else every 25 steps": "auto: 64 MB 이하 모델은 매 스텝, 그보다 크면 25스텝마다",
  "Training starts from the model in use in the Classify view.": "학습은 분류 탭에서 사용 중인 모델에서 시작합니다.",
  Start: "시작",
  Stop: "중지",
  Reset: "초기화",
  Continue: "계속",
  "Use the result": "결과 사용하기",
  "WiSE-FT: blend with the original weights": "WiSE-FT: 원래 가중치와 섞기",
  "α = 1: the fine-tuned weights; 0: the original; in between often keeps the original's broad knowledge while gaining most of the tuning.":
    "α = 1: 파인튜닝한 가중치, 0: 원래 가중치. 그 사이 값은 원래 모델의 폭넓은 지식을 지키면서 튜닝 효과도 대부분 얻는 경우가 많습니다.",
  "Use for classification": "분류에 사용",
  "Download the model folder": "모델 폴더 다운로드",
  Progress: "진행 상황",
  "Where the training runs": "학습이 실행되는 곳",
  "no run": "실행 없음",
  "Add images, label them, and press Start.": "이미지를 추가하고 레이블을 붙인 뒤 시작을 누르세요.",
  "Training progress": "학습 진행률",
  Step: "스텝",
  "exp(logit scale): how sharply similarities become probabilities": "exp(logit scale): 유사도가 얼마나 뚜렷하게 확률로 바뀌는지",
  Temperature: "온도",
  "Time per step": "스텝당 시간",
  "Held-out accuracy": "평가용 이미지 정확도",
  "Saved in the browser": "브라우저에 저장됨",
  "Loss curve: no steps yet": "손실 곡선: 아직 스텝 없음",
  "Contrastive loss per step (lower: each image picks its own caption more surely).":
    "스텝별 대조 손실 (낮을수록 각 이미지가 자기 캡션을 더 확실하게 고릅니다).",
  "Similarity before training: not computed yet": "학습 전 유사도: 아직 계산하지 않음",
  "Before training: image × caption similarity.": "학습 전: 이미지 × 캡션 유사도.",
  "Similarity now: not computed yet": "현재 유사도: 아직 계산하지 않음",
  "Now.": "현재.",
  "not saved (see the message above)": "저장되지 않음 (위 메시지를 보세요)",
  "load a model first (Classify view)": "먼저 모델을 불러오세요 (분류 탭)",
  "Measuring the starting point…": "시작점을 측정하는 중…",
  "Reset. Adjust the labels or settings and press Start.": "초기화했습니다. 레이블이나 설정을 고친 뒤 시작을 누르세요.",
  "The saved run is incomplete and cannot be resumed.": "저장된 실행이 불완전해서 이어서 할 수 없습니다.",
  "Exporting the fine-tuned weights…": "파인튜닝한 가중치를 내보내는 중…",
  "Loading them for classification…": "분류에 쓰도록 불러오는 중…",
  "Exporting the model folder…": "모델 폴더를 내보내는 중…",
  "Fine-tuning": "파인튜닝",
  "Stopping after this step…": "이 스텝이 끝나면 멈춥니다…",
  "this build of the webclip package has no training API; rebuild it (./build.sh)":
    "이 webclip 패키지 빌드에는 학습 API가 없습니다. 다시 빌드하세요 (./build.sh)",
  "this browser has no IndexedDB": "이 브라우저에는 IndexedDB가 없습니다",
  "IndexedDB could not be opened": "IndexedDB를 열 수 없습니다",
  "IndexedDB is blocked by another tab": "다른 탭이 IndexedDB를 막고 있습니다",
  "IndexedDB write failed": "IndexedDB에 쓰지 못했습니다",
  "IndexedDB write aborted (is the disk full?)": "IndexedDB 쓰기가 중단되었습니다 (디스크가 가득 찼나요?)",

  // ---- Learn
  "Watch a tiny CLIP learn, from scratch": "작은 CLIP이 처음부터 배우는 과정 보기",
  "CLIP learns from pairs of an image and its caption. It has two encoders — one turns an image into a list of numbers (an":
    "CLIP은 이미지와 그 캡션의 쌍으로 배웁니다. 인코더가 두 개 있어서 하나는 이미지를, 다른 하나는 캡션을 숫자 목록(이른바",
  embedding: "임베딩",
  "), the other turns a caption into one — and it is trained so that an image lands close to its own caption and far from everyone else's. Here a small CLIP starts from random weights and learns the":
    ")으로 바꿉니다. 그리고 이미지가 자기 캡션과는 가깝고 다른 모든 캡션과는 멀어지도록 학습합니다. 여기서는 작은 CLIP이 무작위 가중치에서 시작해",
  "shapes world": "도형 세계",
  ": six colours × four shapes, drawn on cleaner and then messier backgrounds. Four combinations (purple star, orange circle, green square, yellow triangle) are never shown during training.":
    "를 배웁니다: 색 6가지 × 도형 4가지를 처음에는 깨끗한 배경에, 나중에는 어지러운 배경에 그린 그림입니다. 네 가지 조합(purple star 보라색 별, orange circle 주황색 원, green square 초록색 사각형, yellow triangle 노란색 삼각형)은 학습 중에 한 번도 보여 주지 않습니다.",
  "The run follows the recipe of the bundled model (": "학습은 내장 모델의 레시피를 그대로 따릅니다 (",
  "steps: the learning rate warms up, then slowly decays; clean drawings first, clutter from step":
    "스텝: 학습률이 워밍업한 뒤 천천히 줄어들고, 처음에는 깨끗한 그림, 스텝",
  "). Around step 1500–2000 the model starts naming the never-seen combinations on clean drawings; “Stop after” ends the run there, and raising it later continues the same run towards the cluttered pictures.":
    "부터는 어지러운 그림). 스텝 1500–2000 무렵이면 모델이 깨끗한 그림에서 한 번도 보지 못한 조합의 이름을 맞히기 시작합니다. 실행은 “중지할 스텝”에서 끝나고, 나중에 이 값을 올리면 같은 실행이 어지러운 그림 쪽으로 이어집니다.",
  "The learning rate and the image difficulty follow the native recipe; stopping early gives its first steps, and raising this later continues the run":
    "학습률과 이미지 난이도는 네이티브 레시피를 따릅니다. 일찍 멈추면 그 앞부분만 실행되고, 나중에 이 값을 올리면 실행이 이어집니다",
  "Stop after step": "중지할 스텝",
  "Stop after": "중지할 스텝",
  "Pairs per step": "스텝당 쌍 수",
  Seed: "시드",
  "Start training": "학습 시작",
  "Show the fully trained model": "다 학습된 모델 보기",
  "not started": "시작 전",
  "Press “Start training”. It runs in this page, on your GPU or CPU.":
    "“학습 시작”을 누르세요. 이 페이지 안에서 GPU나 CPU로 실행됩니다.",
  "Time left": "남은 시간",
  "0: clean drawings on white; 1: clutter, textures and noise": "0: 흰 바탕의 깨끗한 그림, 1: 어지러운 배경, 질감, 노이즈",
  "Image difficulty": "이미지 난이도",
  "Held-out combinations right": "처음 보는 조합 정답률",
  "1 · The loss falls": "1 · 손실이 줄어듭니다",
  "Each step shows the model a batch of pairs and asks, for every image:":
    "스텝마다 모델에게 쌍 한 배치를 보여 주고 이미지마다 묻습니다:",
  "which of these captions is yours?": "이 캡션들 중 어느 것이 네 것이니?",
  "(and for every caption: which image?). The loss measures how wrong those guesses are. Guessing at random among the batch scores about ln(batch size) — the dashed line. Each step nudges the weights so that matching pairs move closer together and the other combinations move apart; the curve drops as the model starts answering correctly. It jumps when the pictures get harder (the curriculum adds clutter after 40 % of the steps).":
    "(캡션마다: 어느 이미지니?). 손실은 이 추측이 얼마나 틀렸는지를 잽니다. 배치 안에서 무작위로 고르면 약 ln(배치 크기)가 나오는데, 점선이 그 값입니다. 스텝마다 가중치를 조금씩 움직여 짝이 맞는 쌍은 가까워지고 다른 조합은 멀어지게 하므로, 모델이 맞게 답하기 시작하면 곡선이 내려갑니다. 그림이 어려워지면 곡선이 튀어 오릅니다 (커리큘럼은 전체 스텝의 40 %가 지나면 어지러운 배경을 더합니다).",
  "2 · The similarity matrix turns diagonal": "2 · 유사도 행렬이 대각선으로 바뀝니다",
  "Similarity matrix: not computed yet": "유사도 행렬: 아직 계산하지 않음",
  "Every cell is the cosine similarity between one image's embedding and one caption's embedding (yellow: the most alike, dark: the least; the scale below gives the values). Image":
    "각 칸은 이미지 하나의 임베딩과 캡션 하나의 임베딩 사이의 코사인 유사도입니다 (노란색: 가장 비슷함, 어두운색: 가장 덜 비슷함, 값은 아래 눈금에 있습니다). 이미지",
  "'s true caption is column": "의 진짜 캡션은 열",
  ", so a model that has learned puts the bright cells on the diagonal. At the start the weights are random and the matrix is noise. The outlined cell in each row is the caption the model would pick for that image.":
    "이므로, 잘 배운 모델은 밝은 칸을 대각선에 놓습니다. 처음에는 가중치가 무작위라 행렬이 잡음뿐입니다. 각 행에서 테두리를 친 칸은 모델이 그 이미지에 고를 캡션입니다.",
  "3 · The embedding space": "3 · 임베딩 공간",
  "Embedding map: not computed yet": "임베딩 지도: 아직 계산하지 않음",
  "The probe images and captions, projected to 2-D.": "검사용 이미지와 캡션을 2차원 평면에 투영한 모습.",
  "The embeddings have 64 numbers each; this map flattens them to two dimensions (PCA: the two directions along which the points spread the most). Thumbnails are images, diamonds are captions, and a line joins each image to its own caption. Training pulls each pair together (the lines shorten) and pushes different pairs apart, so images and captions of one colour and shape end up in the same place — a shared space for pictures and words.":
    "임베딩은 각각 숫자 64개로 되어 있습니다. 이 지도는 그것을 2차원으로 눌러 보여 줍니다 (PCA: 점들이 가장 넓게 퍼진 두 방향). 작은 그림은 이미지, 마름모는 캡션이고, 선은 각 이미지를 자기 캡션과 잇습니다. 학습은 쌍마다 서로 끌어당기고(선이 짧아집니다) 다른 쌍은 밀어내므로, 색과 모양이 같은 이미지와 캡션이 같은 곳에 모입니다 — 그림과 말이 함께 쓰는 공간입니다.",
  "4 · The temperature": "4 · 온도",
  "Temperature, 1 to 100": "온도, 1~100",
  "Similarities lie between −1 and 1; to turn them into probabilities CLIP multiplies them by a learned factor,":
    "유사도는 −1과 1 사이의 값입니다. 이것을 확률로 바꾸려고 CLIP은 softmax 전에 유사도에 학습된 배율",
  ", before the softmax. A small factor makes every answer look equally likely; a large one makes the model decisive. It starts at 1/0.07 ≈ 14.3 and the model learns to raise it (up to 100) as it becomes sure of its answers — too early, and it would be confidently wrong.":
    "를 곱합니다. 배율이 작으면 모든 답이 비슷해 보이고, 크면 모델이 단호해집니다. 처음 값은 1/0.07 ≈ 14.3이고, 모델은 답에 자신이 생길수록 이 값을 (최대 100까지) 올리도록 배웁니다 — 너무 일찍 올리면 자신 있게 틀리게 됩니다.",
  "5 · Zero-shot: a combination it never saw": "5 · 제로샷: 한 번도 보지 못한 조합",
  "Type a colour and a shape": "색과 모양을 영어로 입력하세요",
  "Images to test on": "시험할 이미지",
  "clean drawings": "깨끗한 그림",
  "cluttered pictures": "어지러운 그림",
  "Try it": "해 보기",
  "Train first (or show the fully trained model).": "먼저 학습하세요 (또는 다 학습된 모델을 보세요).",
  "Zero-shot results": "제로샷 결과",
  "The model classifies each picture among all 24 names (“a photo of a red circle.”, …). For a held-out combination — say “purple star” — it has seen purple things and stars, but never a purple star. If it still picks the right name, it has learned colour and shape as separate ideas it can recombine:":
    "모델은 각 그림을 24개 이름(“a photo of a red circle.”, …) 가운데 하나로 분류합니다. 학습에서 뺀 조합, 예를 들어 “purple star”(보라색 별)라면 모델은 보라색 물건과 별은 보았지만 보라색 별은 본 적이 없습니다. 그래도 맞는 이름을 고른다면, 색과 모양을 다시 조합할 수 있는 별개의 개념으로 배운 것입니다:",
  "compositional generalisation": "조합적 일반화",
  ". That is why CLIP can recognise things from a description it was never trained on.":
    ". 그래서 CLIP은 학습 때 본 적 없는 설명으로도 사물을 알아볼 수 있습니다.",
  "Creating a CLIP with random weights…": "무작위 가중치로 CLIP을 만드는 중…",
  "Measuring the random starting point…": "무작위 시작점을 측정하는 중…",
  "Reset. Press “Start training” for a new run.": "초기화했습니다. 새로 하려면 “학습 시작”을 누르세요.",
  "Loading the bundled model (trained natively)…": "내장 모델을 불러오는 중 (네이티브로 학습)…",
  "the fully trained model": "다 학습된 모델",

  // ---- Library
  Library: "라이브러리",
  "Your photo library": "내 사진 라이브러리",
  "Pick a folder of photos: they are embedded in the background, on this machine, and the index is saved in this browser, so you can search them later without picking the folder again. The library follows one folder: unchanged photos are not embedded again, and photos no longer in it are dropped.":
    "사진 폴더를 고르세요. 사진은 이 컴퓨터에서 백그라운드로 임베딩되고 인덱스는 이 브라우저에 저장되므로, 나중에 폴더를 다시 고르지 않아도 검색할 수 있습니다. 라이브러리는 폴더 하나를 따릅니다: 바뀌지 않은 사진은 다시 임베딩하지 않고, 폴더에서 사라진 사진은 뺍니다.",
  "Re-index with this model": "이 모델로 다시 인덱싱",
  "Drop a folder of photos here": "사진 폴더를 여기에 끌어다 놓거나",
  ", or": "",
  "Choose folder…": "폴더 선택…",
  "Choose a folder of photos": "사진 폴더 선택",
  Pause: "일시 정지",
  Resume: "이어서 하기",
  Rescan: "다시 읽기",
  "Read the folder again: new and changed photos are embedded, removed ones dropped":
    "폴더를 다시 읽습니다: 새로 생기거나 바뀐 사진은 임베딩하고, 없어진 사진은 뺍니다",
  "Indexing progress": "인덱싱 진행 상황",
  Done: "완료",
  Speed: "속도",
  Failed: "실패",
  "Latest embedded images": "최근 임베딩한 이미지",
  "Indexed images": "인덱싱한 이미지",
  "Files that could not be indexed": "인덱싱하지 못한 파일",
  "The index": "인덱스",
  "Export index": "인덱스 내보내기",
  "Import index": "인덱스 가져오기",
  Clear: "비우기",
  "The index is exported in the folder layout of": "인덱스는",
  "(index.json, img_emb/, metadata/, errors.jsonl), which": "의 폴더 구조(index.json, img_emb/, metadata/, errors.jsonl)로 내보내며,",
  "reads; import takes such a folder made with the same model.":
    "(이)가 읽을 수 있습니다. 가져오기는 같은 모델로 만든 그런 폴더를 받습니다.",
  Search: "검색",
  "Search your photos by text": "글로 사진 검색",
  "e.g. a dog on the beach": "예: a dog on the beach",
  "…or by an image": "…또는 이미지로",
  "Photos ranked by similarity": "유사도 순으로 정렬한 사진",
  Open: "열기",
  "More like this": "비슷한 사진 더 보기",
  "No preview: choose the folder again to see the images.": "미리보기 없음: 이미지를 보려면 폴더를 다시 고르세요.",
  "No library open.": "열린 라이브러리가 없습니다.",
  "Not saved (this browser offers no storage)": "저장 안 됨 (이 브라우저에서 저장소를 쓸 수 없음)",
  "Ready: type to search.": "준비됨: 입력하면 검색합니다.",
  "Ready: choose a folder of photos to index it.": "준비됨: 인덱싱할 사진 폴더를 고르세요.",
  "The library could not be opened.": "라이브러리를 열지 못했습니다.",
  "Reading the folder…": "폴더를 읽는 중…",
  "No images in that folder (JPEG, PNG, GIF, WebP, BMP, TIFF).": "그 폴더에 이미지(JPEG, PNG, GIF, WebP, BMP, TIFF)가 없습니다.",
  "The folder is indexed as soon as a model is loaded.": "모델을 불러오는 대로 폴더를 인덱싱합니다.",
  "Pausing after the images in flight…": "처리 중인 이미지를 마친 뒤 일시 정지하는 중…",
  "Indexing stopped. The images embedded so far are kept: Resume tries again.":
    "인덱싱이 멈췄습니다. 지금까지 임베딩한 이미지는 남아 있습니다. “이어서 하기”로 다시 시도하세요.",
  "The library is empty: choose a folder to index it.": "라이브러리가 비어 있습니다: 인덱싱할 폴더를 고르세요.",
  "The library is empty.": "라이브러리가 비어 있습니다.",
  "Opening the library…": "라이브러리를 여는 중…",
  "The library is not open yet.": "라이브러리가 아직 열리지 않았습니다.",
  "Images like the pasted image": "붙여 넣은 이미지와 비슷한 사진",
  "The Library needs the webclip package (see the message above).": "라이브러리에는 webclip 패키지가 필요합니다 (위 메시지 참고).",
  "Waiting for the page's model to load…": "페이지의 모델을 불러오기를 기다리는 중…",
  "Load a model in the Classify view first: the library indexes with it.":
    "먼저 분류 보기에서 모델을 불러오세요: 라이브러리는 그 모델로 인덱싱합니다.",
  "The webclip package is not loaded yet; try again in a moment.": "webclip 패키지를 아직 불러오지 않았습니다. 잠시 뒤에 다시 해 보세요.",

  // ---- footer
  "webclip: CLIP in Rust on": "webclip:",
  ", compiled to WebAssembly. Probabilities are the softmax of the model's scaled cosine similarities over the classes you list.":
    "기반의 Rust CLIP을 WebAssembly로 컴파일했습니다. 확률은 입력한 클래스들에 대한 모델의 (스케일된) 코사인 유사도에 softmax를 적용한 값입니다.",

  // ---- canvases (plots.js, through t())
  step: "스텝",
  loss: "손실",
  "No steps yet.": "아직 스텝이 없습니다.",
  "No run yet.": "아직 실행이 없습니다.",
  "Press Start.": "시작을 누르세요.",
  "Press “Start training”.": "“학습 시작”을 누르세요.",
  "cosine similarity; outlined: each image's pick": "코사인 유사도; 테두리: 각 이미지가 고른 캡션",
  "cosine similarity; outlined: each image's best caption": "코사인 유사도; 테두리: 각 이미지에 가장 맞는 캡션",
  "▢ image ◆ caption — its pair": "▢ 이미지   ◆ 캡션   — 짝",
};

// ---------------------------------------------------------------------------------------------
// Particles: Korean picks 을/를, 은/는, (으)로 by whether the word ends in a consonant. Names
// ending in Latin letters get both forms; a trailing "(…)" is ignored.

const BATCHIM_DIGITS = "013678"; // 영, 일, 삼, 육, 칠, 팔

/** true / false: the word ends with a final consonant (ㄹ: "l"); null: cannot tell. */
function batchim(word) {
  const w = String(word).replace(/\s*\([^()]*\)\s*$/, "").trim();
  const ch = w.at(-1) ?? "";
  const code = ch.charCodeAt(0);
  if (code >= 0xac00 && code <= 0xd7a3) {
    const f = (code - 0xac00) % 28;
    return f === 0 ? false : f === 8 ? "l" : true;
  }
  if (/\d/.test(ch)) return BATCHIM_DIGITS.includes(ch) ? (/[178]/.test(ch) ? "l" : true) : false;
  return null;
}

const obj = (w) => `${w}${{ true: "을", l: "을", false: "를" }[batchim(w)] ?? "을(를)"}`;
const topic = (w) => `${w}${{ true: "은", l: "은", false: "는" }[batchim(w)] ?? "은(는)"}`;
const ro = (w) => `${w}${{ true: "으로", l: "로", false: "로" }[batchim(w)] ?? "(으)로"}`;

const LIB_FAIL = {
  "Could not open the library": "라이브러리를 열지 못했습니다",
  "Indexing stopped": "인덱싱이 멈췄습니다",
  "Export failed": "내보내기 실패",
  "Import failed": "가져오기 실패",
  "Could not read the folder": "폴더를 읽지 못했습니다",
  "Could not open the folder": "폴더를 열지 못했습니다",
  "Could not clear the library": "라이브러리를 비우지 못했습니다",
};

const WHERE = { WebGPU: "WebGPU", "the CPU": "CPU", "the CPU (WebAssembly)": "CPU (WebAssembly)" };

// ---------------------------------------------------------------------------------------------
// Patterns, tried in order (more specific first); each matches a whole whitespace-collapsed string.

export const KO_PATTERNS = [
  // app.js: the hub preset's sizes
  [
    /^Download: (.+?) \(f32\)\. As f16 (.+?), as q8 (.+?): webclip convert --dtype q8 writes them, to load from disk or your own URL\. Text: (.+)\.$/,
    (m) => `다운로드: ${m[1]} (f32). f16로는 ${m[2]}, q8로는 ${m[3]}: webclip convert --dtype q8로 만들어 디스크나 직접 올린 URL에서 불러올 수 있습니다. 텍스트: ${LANGS[m[4]] ?? m[4]}.`,
  ],
  // app.js: the model, its loading, the badge
  [/^In use: (.+) \((\d+)-d embeddings\)\.$/, (m, s) => `사용 중: ${s(m[1])} (${m[2]}차원 임베딩).`],
  [
    /^(.+) runs in (f16|f32) on (WebGPU|the CPU \(WebAssembly\))(?:: (.+)| \(the adapter does not report its name\))$/,
    (m, s) => `${topic(s(m[1]))} ${WHERE[m[3]]}에서 ${ro(m[2])} 실행됩니다${m[4] ? `: ${m[4]}` : " (어댑터가 이름을 알려 주지 않습니다)"}`,
  ],
  [/^Download of (.+)$/, (m) => `${m[1]} 다운로드`],
  [/^(.+) \(from the cache\)$/, (m) => `${m[1]} (캐시에서)`],
  [/^Downloading (.+): (.+?)(?: of (.+))?$/, (m) => `${m[1]} 다운로드 중: ${m[2]}${m[3] ? ` / ${m[3]}` : ""}`],
  [/^Building (.+)…$/, (m, s) => `${obj(s(m[1]))} 구성하는 중…`],
  [/^the model folder is incomplete: missing (.+)$/, (m) => `모델 폴더가 불완전합니다: ${m[1]} 없음`],
  [/^(.+) is not a URL$/, (m) => `${topic(m[1])} URL이 아닙니다`],
  [/^Loading (.+) \((auto|webgpu|cpu)\)…$/, (m, s) => `${obj(s(m[1]))} 불러오는 중 (${m[2]})…`],
  [
    /^Could not load (.+?): (.*?)\.(?: Still using (.+)\.)?$/,
    (m, s) => `${obj(s(m[1]))} 불러오지 못했습니다: ${s(m[2])}.${m[3] ? ` 계속 ${obj(s(m[3]))} 사용합니다.` : ""}`,
  ],
  [/^Loading failed\.(?: Still using (.+)\.)?$/, (m, s) => `불러오기에 실패했습니다.${m[1] ? ` 계속 ${obj(s(m[1]))} 사용합니다.` : ""}`],
  [/^Ready: (.+) on (WebGPU|the CPU) \((f16|f32)\)\.$/, (m, s) => `준비됨: ${s(m[1])} · ${WHERE[m[2]]} (${m[3]}).`],
  [/^Could not read the dropped files: (.*)$/, (m, s) => `끌어다 놓은 파일을 읽지 못했습니다: ${s(m[1])}`],
  [
    /^Press “Load model” to use the new (backend|precision)\.$/,
    (m) => `새 ${m[1] === "backend" ? "백엔드" : "정밀도"}를 쓰려면 “모델 불러오기”를 누르세요.`,
  ],
  [/^only a software GPU was found \((.+)\); using the CPU backend$/, (m) => `소프트웨어 GPU(${m[1]})만 있어서 CPU 백엔드를 씁니다`],
  [/^(.+); using the CPU backend$/, (m) => `${m[1]}; CPU 백엔드를 씁니다`],
  [/^Unexpected error: (.*)$/, (m, s) => `예상하지 못한 오류: ${s(m[1])}`],
  [
    /^The webclip package is missing or broken \((.*)\)\. Build it with \.\/build\.sh so that www\/vendor\/webclip\/ exists\.$/,
    (m) => `webclip 패키지가 없거나 손상되었습니다 (${m[1]}). www/vendor/webclip/이 생기도록 ./build.sh로 빌드하세요.`,
  ],

  // ui.js: form fields
  [/^(.+): “(.*)” is not a number$/, (m, s) => `${s(m[1])}: “${m[2]}”은(는) 숫자가 아닙니다`],
  [/^(.+) must be a whole number, got (.+)$/, (m, s) => `${topic(s(m[1]))} 정수여야 합니다 (입력: ${m[2]})`],
  [/^(.+) must be between (\S+) and (\S+), got (.+)$/, (m, s) => `${topic(s(m[1]))} ${m[2]}에서 ${m[3]} 사이여야 합니다 (입력: ${m[4]})`],

  // classify.js
  [/^(\d+) class(?:es)?\.$/, (m) => `클래스 ${m[1]}개.`],
  [
    /^(.+?\.) SigLIP rates each class on its own: the percentages need not add up to 100 %\.$/,
    (m, s) => `${s(m[1])} SigLIP은 클래스마다 따로 점수를 매기므로 백분율의 합이 100 %가 아닐 수 있습니다.`,
  ],
  [/^Remove (.+)$/, (m) => `${m[1]} 삭제`],
  [/^Probabilities for (.+)$/, (m) => `${m[1]}의 확률`],
  [/^Show all (\d+) classes$/, (m) => `클래스 ${m[1]}개 모두 보기`],
  [/^(.+) \(first run\)$/, (m) => `${m[1]} (첫 실행)`],
  [/^Classifying (\d+) images? among (\d+) classes…$/, (m) => `이미지 ${m[1]}개를 클래스 ${m[2]}개로 분류하는 중…`],
  [/^The class names were refused: (.*)$/, (m) => `클래스 이름이 거부되었습니다: ${m[1]}`],
  [
    /^Classified (\d+) images?(?: \((\d+) could not be read\))? with (.+)\.$/,
    (m, s) => `${ro(s(m[3]))} 이미지 ${m[1]}개를 분류했습니다${m[2] ? ` (${m[2]}개는 읽을 수 없음)` : ""}.`,
  ],
  [/^(.+): could not be read as an image: (.*)$/, (m) => `${m[1]}: 이미지로 읽을 수 없습니다: ${m[2]}`],
  [/^Search failed: (.*)$/, (m, s) => `검색 실패: ${s(m[1])}`],

  // finetune.js, trainset.js, run.js
  [
    /^Training (.+)\. The settings and the training set are fixed for this run: Reset to change them\.$/,
    (m, s) => `${obj(s(m[1]))} 학습합니다. 이 실행의 설정과 학습 데이터는 고정되어 있으니, 바꾸려면 초기화하세요.`,
  ],
  [/^Training starts from the model in use in the Classify view \((.+)\)\.$/, (m, s) => `학습은 분류 탭에서 사용 중인 모델(${s(m[1])})에서 시작합니다.`],
  [/^(\S+) \(step (\d+), (\d+) images?\)$/, (m) => `${m[1]} (스텝 ${m[2]}, 이미지 ${m[3]}개)`],
  [
    /^Similarity (before training|now): (\d+) of (\d+) images pick their own caption; mean cosine of true pairs (\S+), of other combinations (\S+)$/,
    (m) =>
      `${m[1] === "now" ? "현재" : "학습 전"} 유사도: 이미지 ${m[3]}개 중 ${m[2]}개가 자기 캡션을 고릅니다. 맞는 쌍의 평균 코사인 ${m[4]}, 다른 조합 ${m[5]}`,
  ],
  [/^Now \(step (\d+)\)\.$/, (m) => `현재 (스텝 ${m[1]}).`],
  [/^step (\d+)(?: \((.+)\))?$/, (m) => `스텝 ${m[1]}${m[2] ? ` (${m[2]})` : ""}`],
  [/^The run could not be saved in the browser: (.*)$/, (m, s) => `실행을 브라우저에 저장하지 못했습니다: ${s(m[1])}`],
  [
    /^A saved fine-tuning run was found: (.+), (\d+) images, step (\d+) of (\d+) \(saved (.+)\)\. Resuming brings back its images and labels\.$/,
    (m, s) => `저장된 파인튜닝 실행이 있습니다: ${s(m[1])}, 이미지 ${m[2]}개, 스텝 ${m[3]}/${m[4]} (${m[5]} 저장). 이어서 하면 이미지와 레이블도 다시 불러옵니다.`,
  ],
  [/^Resume at step (\d+)$/, (m) => `스텝 ${m[1]}부터 이어서 하기`],
  [/^Preparing the trainer \((.+)\)…$/, (m) => `트레이너를 준비하는 중 (${m[1]})…`],
  [/^This run has done its (\d+) steps\. Reset to start another\.$/, (m) => `이 실행은 ${m[1]}스텝을 모두 마쳤습니다. 새로 하려면 초기화하세요.`],
  [/^Step (\d+) of (\d+)…$/, (m) => `스텝 ${m[1]}/${m[2]}…`],
  [
    /^Fine-tuning stopped at step (\d+): (.*)\. The weights of step (\d+) are kept: lower the learning rate and Continue, or Reset\.$/,
    (m) => `파인튜닝이 스텝 ${m[1]}에서 멈췄습니다: ${m[2]}. 스텝 ${m[3]}의 가중치는 그대로 있습니다. 학습률을 낮추고 계속하거나, 초기화하세요.`,
  ],
  [
    /^Stopped: non-finite loss at step (\d+); the last good weights \(step (\d+)\) are kept\.$/,
    (m) => `중지됨: 스텝 ${m[1]}에서 손실이 유한하지 않습니다. 마지막 정상 가중치(스텝 ${m[2]})는 그대로 있습니다.`,
  ],
  [/^Done: (\d+) steps\. Use the result below, or download it\.$/, (m) => `완료: ${m[1]}스텝. 아래에서 결과를 사용하거나 내려받으세요.`],
  [/^Stopped at step (\d+) of (\d+)\. Continue, or use the result\.$/, (m) => `스텝 ${m[1]}/${m[2]}에서 중지했습니다. 계속하거나 결과를 사용하세요.`],
  [/^The saved run could not be read: (.*)$/, (m, s) => `저장된 실행을 읽지 못했습니다: ${s(m[1])}`],
  [/^Restoring the run at step (\d+)…$/, (m) => `스텝 ${m[1]}의 실행을 복원하는 중…`],
  [/^(.+), resumed at step (\d+)$/, (m, s) => `${s(m[1])} (스텝 ${m[2]}에서 이어 감)`],
  [/^Resumed at step (\d+); continuing…$/, (m) => `스텝 ${m[1]}에서 이어서 계속하는 중…`],
  [/^Restored the finished run \((\d+) steps\)\.$/, (m) => `끝난 실행을 복원했습니다 (${m[1]}스텝).`],
  [
    /^the fine-tuned model \(step (\d+)(?:, WiSE-FT α ([\d.]+))?\)$/,
    (m) => `파인튜닝한 모델 (스텝 ${m[1]}${m[2] ? `, WiSE-FT α ${m[2]}` : ""})`,
  ],
  [/^The Classify view now uses (.+)\.$/, (m, s) => `이제 분류 탭에서 ${obj(s(m[1]))} 사용합니다.`],
  [/^Could not use the fine-tuned model: (.*)$/, (m, s) => `파인튜닝한 모델을 사용할 수 없습니다: ${s(m[1])}`],
  [/^Saved (.+) in “(.+)”\.$/, (m) => `“${m[2]}” 폴더에 ${m[1]} 파일을 저장했습니다.`],
  [
    /^Downloaded the (\d+) files of the model folder: put them in one folder to load it\.$/,
    (m) => `모델 폴더의 파일 ${m[1]}개를 내려받았습니다. 불러오려면 한 폴더에 모아 두세요.`,
  ],
  [/^Could not save the model folder: (.*)$/, (m, s) => `모델 폴더를 저장하지 못했습니다: ${s(m[1])}`],
  [/^α = ([\d.]+) \((fine-tuned|original)\)$/, (m) => `α = ${m[1]} (${m[2] === "original" ? "원본" : "파인튜닝"})`],
  [/^Label for (.+)$/, (m) => `${m[1]}의 레이블`],
  [/^Held out — predicted: (.*) (✓|✗)$/, (m) => `평가용 — 예측: ${m[1]} ${m[2]}`],
  [
    /^(\d+) images? to train on, (\d+) held out, (\d+) different labels?\.$/,
    (m) => `학습 이미지 ${m[1]}개, 평가용 ${m[2]}개, 서로 다른 레이블 ${m[3]}개.`,
  ],
  [
    /^contrastive training needs at least 2 labelled images that are not held out \(there (?:is|are) (\d+)\)$/,
    (m) => `대조 학습에는 평가용이 아니면서 레이블이 있는 이미지가 2개 이상 필요합니다 (지금 ${m[1]}개)`,
  ],
  [/^Loss curve over (\d+) steps: first (\S+), last (\S+)$/, (m) => `손실 곡선 (${m[1]}스텝): 처음 ${m[2]}, 마지막 ${m[3]}`],
  [/^chance: (.+)$/, (m) => `우연 수준: ${m[1]}`],

  // learn.js
  [
    /^A fixed probe batch of (\d+) images \(rows\) and their captions \(columns\)\.$/,
    (m) => `고정된 검사용 배치: 이미지 ${m[1]}개(행)와 그 캡션(열).`,
  ],
  [/^Step (\d+) of (\d+): loss (\S+)\.$/, (m) => `스텝 ${m[1]}/${m[2]}: 손실 ${m[3]}.`],
  [
    /^Training stopped at step (\d+): (.*)\. The weights of step (\d+) are kept; try a lower learning rate\.$/,
    (m) => `학습이 스텝 ${m[1]}에서 멈췄습니다: ${m[2]}. 스텝 ${m[3]}의 가중치는 그대로 있습니다. 학습률을 낮춰 보세요.`,
  ],
  [/^Stopped: non-finite loss at step (\d+)\.$/, (m) => `중지됨: 스텝 ${m[1]}에서 손실이 유한하지 않습니다.`],
  [
    /^Done: (\d+) steps in ([\d.]+) s\. Try a held-out combination below — or compare with the fully trained model\.$/,
    (m) => `완료: ${m[1]}스텝, ${m[2]}초. 아래에서 처음 보는 조합을 시험해 보거나, 다 학습된 모델과 비교해 보세요.`,
  ],
  [/^Stopped at step (\d+) of (\d+)\.$/, (m) => `스텝 ${m[1]}/${m[2]}에서 중지했습니다.`],
  [
    /^Loading the bundled model \(trained natively: (\d+) steps of (\d+) pairs\)…$/,
    (m) => `내장 모델을 불러오는 중 (네이티브로 학습: ${m[2]}쌍씩 ${m[1]}스텝)…`,
  ],
  [
    /^The bundled model, trained for (\d+) steps: a diagonal matrix, tight pairs, a high temperature\. Try a held-out combination below\.$/,
    (m) => `${m[1]}스텝 동안 학습한 내장 모델입니다: 대각선 행렬, 가까이 붙은 쌍, 높은 온도. 아래에서 처음 보는 조합을 시험해 보세요.`,
  ],
  [/^random guessing: ln (\d+) = (\S+)$/, (m) => `무작위로 고를 때: ln ${m[1]} = ${m[2]}`],
  [
    /^The bundled model was trained natively \((\S+) steps\); its curve is not stored\.$/,
    (m) => `내장 모델은 네이티브로 학습했습니다 (${m[1]}스텝). 그 곡선은 저장되어 있지 않습니다.`,
  ],
  [/^(\S+) \(native\)$/, (m) => `${m[1]} (네이티브)`],
  [/^(\S+) of (\d+) \(chance ≈ 4 %\)$/, (m) => `${m[2]}개 중 ${m[1]} (우연 ≈ 4 %)`],
  [
    /^Similarity matrix at step (\d+): (\d+) of (\d+) images pick their own caption; mean cosine on the diagonal (\S+), elsewhere (\S+)$/,
    (m) => `스텝 ${m[1]}의 유사도 행렬: 이미지 ${m[3]}개 중 ${m[2]}개가 자기 캡션을 고릅니다. 대각선의 평균 코사인 ${m[4]}, 나머지 ${m[5]}`,
  ],
  [
    /^Step (\d+): (\d+) of (\d+) images pick their own caption \(diagonal (\S+) vs\. (\S+) elsewhere; probe loss (\S+)\)\.$/,
    (m) => `스텝 ${m[1]}: 이미지 ${m[3]}개 중 ${m[2]}개가 자기 캡션을 고릅니다 (대각선 ${m[4]}, 나머지 ${m[5]}; 검사 배치 손실 ${m[6]}).`,
  ],
  [
    /^Embedding map at step (\d+): mean cosine of matching image–caption pairs (\S+), of other combinations (\S+)$/,
    (m) => `스텝 ${m[1]}의 임베딩 지도: 짝이 맞는 이미지–캡션 쌍의 평균 코사인 ${m[2]}, 다른 조합 ${m[3]}`,
  ],
  [
    /^Step (\d+): matching pairs at cosine (\S+) on average, other combinations (\S+) \(the plane shows (\d+) % of the spread\)\.$/,
    (m) => `스텝 ${m[1]}: 짝이 맞는 쌍의 평균 코사인 ${m[2]}, 다른 조합 ${m[3]} (이 평면이 전체 퍼짐의 ${m[4]} %를 보여 줍니다).`,
  ],
  [/^Name a colour \((.+)\) and a shape \((.+)\)\.$/, (m) => `색(${m[1]})과 모양(${m[2]})을 영어로 입력하세요.`],
  [/^Classifying pictures of an? (.+)…$/, (m) => `“${m[1]}” 그림을 분류하는 중…`],
  [/^no pictures of an? (.+) in the gallery$/, (m) => `갤러리에 “${m[1]}” 그림이 없습니다`],
  [/^picture (\d+) of an? (.+)$/, (m) => `“${m[2]}” 그림 ${m[1]}`],
  [/^Top 3 names for picture (\d+)$/, (m) => `그림 ${m[1]}의 상위 3개 이름`],
  [/^“(.+)”: (\S+) \(rank (\d+)\)$/, (m) => `“${m[1]}”: ${m[2]} (${m[3]}위)`],
  [
    /^(\d+) of (\d+) pictures of an? (.+) are named “(.+)” by (.+) — a combination it never saw in training \(chance: 1 in 24\)\.$/,
    (m, s) =>
      `${topic(s(m[5]))} “${m[3]}” 그림 ${m[2]}개 중 ${m[1]}개를 “${m[4]}”(이)라고 불렀습니다 — 학습 때 한 번도 보지 못한 조합입니다 (우연: 24분의 1).`,
  ],
  [
    /^(\d+) of (\d+) pictures of an? (.+) are named correctly by (.+)\. \(An? (.+) is a seen combination; try a held-out one: (.+)\.\)$/,
    (m, s) =>
      `${topic(s(m[4]))} “${m[3]}” 그림 ${m[2]}개 중 ${m[1]}개의 이름을 맞혔습니다. (“${m[5]}”은(는) 학습 때 본 조합입니다. 처음 보는 조합을 시험해 보세요: ${m[6]}.)`,
  ],
  [/^the model at step (\d+)$/, (m) => `스텝 ${m[1]}의 모델`],
  [/^Could not classify: (.*)$/, (m, s) => `분류하지 못했습니다: ${s(m[1])}`],

  // library.js
  [/^Opening the library with (.+)…$/, (m, s) => `${s(m[1])}(으)로 라이브러리를 여는 중…`],
  [/^Loading (.+) for the library: (\d+) %$/, (m, s) => `라이브러리용 ${s(m[1])} 불러오는 중: ${m[2]} %`],
  [/^The library indexes with (.+)\.$/, (m, s) => `라이브러리는 ${s(m[1])}(으)로 인덱싱합니다.`],
  [
    /^The model in use is fine-tuned: the library indexes with (.+), the last model loaded \(not a fine-tuned one\)\.$/,
    (m, s) => `지금 모델은 파인튜닝한 모델입니다: 라이브러리는 마지막으로 불러온 모델(파인튜닝 전)인 ${s(m[1])}(으)로 인덱싱합니다.`,
  ],
  [
    /^The saved library belongs to another model: it was indexed with (.+) \((\d+) images\)\. Re-index it with (.+) to search it with this model; the old index is kept until then\.$/,
    (m) => `저장된 라이브러리는 다른 모델의 것입니다: ${m[1]}(으)로 인덱싱했습니다 (이미지 ${m[2]}개). 이 모델로 검색하려면 ${m[3]}(으)로 다시 인덱싱하세요. 그때까지 옛 인덱스는 남아 있습니다.`,
  ],
  [
    /^This library was indexed with (.+) \((\d+) images\)\. Re-index with (.+)\? The old index is kept until you do\.$/,
    (m) => `이 라이브러리는 ${m[1]}(으)로 인덱싱했습니다 (이미지 ${m[2]}개). ${m[3]}(으)로 다시 인덱싱할까요? 다시 인덱싱할 때까지 옛 인덱스는 남아 있습니다.`,
  ],
  [/^Indexing (\d+) files…$/, (m) => `파일 ${m[1]}개를 인덱싱하는 중…`],
  [/^Paused after (\d+) new images\. Resume continues where it stopped\.$/, (m) => `새 이미지 ${m[1]}개를 처리한 뒤 일시 정지했습니다. “이어서 하기”로 멈춘 곳부터 계속합니다.`],
  [
    /^Done in ([\d.]+) s: (\d+) embedded, (\d+) unchanged, (\d+) removed, (\d+) failed\.$/,
    (m) => `완료 (${m[1]}초): 임베딩 ${m[2]}개, 그대로 ${m[3]}개, 삭제 ${m[4]}개, 실패 ${m[5]}개.`,
  ],
  [/^([\d.]+) images\/s$/, (m) => `초당 ${m[1]}장`],
  [/^Saved in: (OPFS|IndexedDB)$/, (m) => `저장 위치: ${m[1]}`],
  [/^(\d+) images$/, (m) => `이미지 ${m[1]}개`],
  [/^(\d+) workers? on (WebGPU|the CPU)$/, (m) => `워커 ${m[1]}개, ${WHERE[m[2]]}`],
  [/^(\d+) embedded at ([\d.]+) images\/s$/, (m) => `${m[1]}개 임베딩, 초당 ${m[2]}장`],
  [/^Files that could not be indexed: (\d+)$/, (m) => `인덱싱하지 못한 파일: ${m[1]}개`],
  [/^Indexed images: (\d+)$/, (m) => `인덱싱한 이미지: ${m[1]}개`],
  [/^Best matches for “(.+)”$/, (m) => `“${m[1]}”에 가장 잘 맞는 사진`],
  [/^Images like (.+)$/, (m) => `${m[1]}와(과) 비슷한 사진`],
  [/^Exported (\d+) files to the folder (.+)\.$/, (m) => `파일 ${m[1]}개를 ${m[2]} 폴더로 내보냈습니다.`],
  [
    /^Downloaded (\d+) files: put the \.npy in img_emb\/ and the \.parquet in metadata\/\.$/,
    (m) => `파일 ${m[1]}개를 내려받았습니다: .npy는 img_emb/에, .parquet은 metadata/에 넣으세요.`,
  ],
  [/^Imported an index of (\d+) images\.$/, (m) => `이미지 ${m[1]}개의 인덱스를 가져왔습니다.`],
  [
    /^Remove all (\d+) images from the library\? Your photos themselves are not touched\.$/,
    (m) => `라이브러리에서 이미지 ${m[1]}개를 모두 지울까요? 사진 파일 자체는 그대로입니다.`,
  ],
  [/^(Could not open the library|Indexing stopped|Export failed|Import failed|Could not read the folder|Could not open the folder|Could not clear the library): (.*)$/,
    (m, s) => `${LIB_FAIL[m[1]]}: ${s(m[2])}`],

  // run.js: a run's failure, after the specific "Stopped: …" lines above
  [/^(Fine-tuning|Learn): (.*)$/, (m, s) => `${s(m[1])}: ${s(m[2])}`],
  [/^Stopped: (.*)$/, (m, s) => `중지됨: ${s(m[1])}`],
];
